"""The folds of a protocol for an index, and the one a --fold names."""
import collections

from microattention import protocols
from microattention.datasets import index_file
from microattention.errors import UserError
from microattention.folds import split as folds
from microattention.train import layout


def fold_list(index, protocol):
    """[{fold, train, test}] of a protocol for an index file (see split)."""
    return split(index_file.read_index(str(index)), index, protocols.get(protocol).name)


def split(rows, index, protocol):
    """[{fold, train, test}] of a protocol for the rows of an index read before:
    the folds command's split, or for pretrain one fold whose train side is the
    whole index (the lmdb stage holds out the validation tenth). `protocol`:
    the name of a protocol resolved before (protocol_run)."""
    if protocol == "pretrain":
        ids = list(rows)
        return [collections.OrderedDict([("fold", layout.PRETRAIN_FOLD), ("train", ids),
                                         ("test", ids)])]
    result = folds.make_folds(rows, protocol, str(index))
    folds.check_folds(result, str(index))
    return result


def pick_fold(all_folds, wanted, protocol, index):
    ids = [f["fold"] for f in all_folds]
    for fold in all_folds:
        if fold["fold"] == wanted:
            return fold
    # cde/loso ids are <dataset>_<subject>: the subject alone names a fold when unique
    matches = [f for f in all_folds if f["fold"].endswith("_" + wanted)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UserError("--fold %s names %d folds of %s (%s); give the full fold id"
                        % (wanted, len(matches), index, ", ".join(f["fold"] for f in matches)))
    shown = ", ".join(ids[:12]) + (", ..." if len(ids) > 12 else "")
    raise UserError("--fold %s: no such fold of protocol %s in %s; its folds are %s"
                    % (wanted, protocol, index, shown))
