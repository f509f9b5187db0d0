"""The options train-fold, run and the Slurm scripts share, and their checks."""
import os
import pathlib

from microattention import protocols
from microattention.errors import UserError
from microattention.nets import prototxt as nets
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
