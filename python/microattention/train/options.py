"""The options train-fold, run and the Slurm scripts share, and their checks."""
import os
import pathlib

from microattention import files, protocols
from microattention.datasets.classes import CLASSES, FAMILY
from microattention.errors import UserError
from microattention.nets import prototxt as nets
from microattention.nets.sidecar import provenance_path
from microattention.train import layout
from microattention.train.schedule import SEED_STRIDE


def add_common_arguments(parser, fold=True):
    parser.add_argument("--protocol", required=True, metavar="P",
                        help="one of %s" % ", ".join(protocols.NAMES))
    if fold:
        parser.add_argument("--fold", required=True, metavar="FOLD_ID",
                            help="fold id as the folds command prints it (casme2-to-samm, "
                                 "casme2_sub01, ...) or, for cde/loso, the subject alone "
                                 "(sub01) when it names one fold; 'pretrain' for pretrain")
    parser.add_argument("--index", required=True, metavar="INDEX.csv",
                        help="index CSV (the index command)")
    parser.add_argument("--faces", required=True, metavar="DIR",
                        help="folder written by the faces command (DIR/faces.csv)")
    parser.add_argument("--weights", required=True, metavar="INIT.caffemodel",
                        help="initial weights (caffe train -weights); see docs/transfer-chain.md")
    parser.add_argument("--net", choices=nets.NETS, default=None,
                        help="the net to train (default: the protocol's, %s)" % ", ".join(
                            "%s: %s" % (p.name, p.net) for p in protocols.PROTOCOLS.values()))
    parser.add_argument("--run-dir", metavar="DIR", default=None,
                        help="where runs go: DIR/<protocol>/<net>/<fold>/ (default %s)"
                             % layout.default_run_dir())
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="training epochs (default: the protocol's total_epochs); "
                             "for quick checks")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="seed of the LMDB (resampling, augmentation, order) and of "
                             "caffe's random_seed (default 0)")
    parser.add_argument("--gpu", type=int, default=None, metavar="ID",
                        help="train and test on this GPU (a CUDA Caffe build); default CPU")
    parser.add_argument("--lmdb-dir", metavar="DIR", default=None,
                        help="where the LMDBs are built and read: DIR/<protocol>/<fold>/ "
                             "(default RUN_DIR/<protocol>/lmdb/<fold>/, shared by the nets); "
                             "node-local scratch on a cluster (only results go to --run-dir)")
    parser.add_argument("--keep-snapshots", action="store_true",
                        help="keep every snapshot and solverstate of a finished fold (by "
                             "default only the final .caffemodel stays)")
    parser.add_argument("--delete-lmdbs", action="store_true",
                        help="delete a fold's LMDBs when the fold is done (unless another "
                             "net is reading them); they are rebuilt, same bytes, when needed")


def input_file(path, option):
    """The file given with `option`, a UserError when there is none."""
    if not path or not os.path.isfile(str(path)):
        raise UserError("%s %s: no such file" % (option, path))
    return pathlib.Path(path)


def input_folder(path, option):
    """The folder given with `option`, a UserError when there is none."""
    if not os.path.isdir(str(path)):
        raise UserError("%s %s: no such folder" % (option, path))
    return pathlib.Path(path)


def check_training(net, epochs, seed):
    """--net, --epochs and --seed of train-fold."""
    if net not in nets.NETS:
        raise UserError("--net %s: expected one of %s" % (net, ", ".join(nets.NETS)))
    if epochs is not None and epochs < 1:
        raise UserError("--epochs %d: must be at least 1" % epochs)
    if seed < 0 or seed >= 2 ** 31 // SEED_STRIDE:
        raise UserError("--seed %d: must lie in 0..%d" % (seed, 2 ** 31 // SEED_STRIDE - 1))


def _record(path):
    try:
        return files.read_json(path) or {}
    except UserError:       # a damaged record says nothing here (provenance names it)
        return {}


def weights_classes(weights):
    """(class count of the weights' classifier, where that is recorded): the
    weights command's record (its num_output), or for a fold's final snapshot
    the family of that fold's training LMDB; (None, None) when nothing says."""
    weights = pathlib.Path(weights)
    side = _record(provenance_path(weights))
    if (side.get("settings") or {}).get("num_output"):
        return int(side["settings"]["num_output"]), provenance_path(weights)
    if weights.name == layout.FINAL_NAME:
        record = weights.parent / layout.PROVENANCE_NAME
        family = ((_record(record).get("lmdb") or {}).get("train") or {}).get("family")
        if family in CLASSES:
            return len(CLASSES[family]), "%s (a %s fold)" % (record, family)
    return None, None


def check_classes(weights, rows, index):
    """Caffe aborts when a classifier of another class count is copied into
    the net (SMIC has 3 classes, the pre-training 5): say so before, with the
    transfer that makes fitting weights."""
    count, source = weights_classes(weights)
    families = {FAMILY.get(row["dataset"]) for row in rows.values()}
    if count is None or len(families) != 1 or None in families:
        return
    family = families.pop()
    if count != len(CLASSES[family]):
        raise UserError(
            "--weights %s has a %d-class classifier (%s), but the index %s holds the %d classes "
            "of %s; make weights for it first: python3 -m microattention weights transfer "
            "--from %s --num-output %d --reinit-classifier --out W (docs/transfer-chain.md)"
            % (weights, count, source, index, len(CLASSES[family]), family, weights,
               len(CLASSES[family])))
