"""The run layout: the one place that names run folders and the files in them.

  RUN_DIR/<protocol>/<net>/<fold>/     a fold folder (FOLD_FILES, snapshots/<net>_iter_N.*)
  RUN_DIR/<protocol>/<net>/            the pooled predictions.csv, metrics.json, metrics.md
  RUN_DIR/<protocol>/lmdb/<fold>/      the fold's LMDBs, shared by the nets
  LMDB_DIR/<protocol>/<fold>/          the same with --lmdb-dir

RUN_DIR defaults to the project's workspace/runs (/workspace/runs in the image).
"""
import pathlib
import re

from microattention import files
from microattention.errors import UserError

FORMAT = "microattention-train-fold/1"     # settings.json, provenance.json, done.json
PRETRAIN_FOLD = "pretrain"
FINAL_NAME = "final.caffemodel"   # the tested snapshot, linked for the next stage
RECALIBRATED_NAME = "final_bn_recalibrated.caffemodel"
SETTINGS_NAME = "settings.json"
DONE_NAME = "done.json"
PROVENANCE_NAME = "provenance.json"
PREDICTIONS_NAME = "predictions.csv"
METRICS_NAME = "metrics.json"
METRICS_MD_NAME = "metrics.md"
PROGRESS_NAME = "progress.json"
CAFFE_LOG_NAME = "caffe.log"
TRAIN_FOLD_LOG_NAME = "train-fold.log"     # run's capture of a train-fold process
SEGMENT_SOLVER_NAME = "solver_segment.prototxt"
FOLD_FILES = ("train.txt", "test.txt", "train_val.prototxt", "solver.prototxt",
              "deploy.prototxt", CAFFE_LOG_NAME, PREDICTIONS_NAME, METRICS_NAME,
              PROVENANCE_NAME, DONE_NAME)


def default_run_dir():
    """workspace/runs of the project (/workspace/runs in the image)."""
    return files.project_root() / "workspace" / "runs"


def check_fold_id(fold_id):
    """The fold id, when it can be a folder name; a UserError otherwise."""
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$", fold_id):
        raise UserError("fold id %r cannot be a folder name" % fold_id)
    return fold_id


def net_dir(run_dir, protocol, net):
    """RUN_DIR/<protocol>/<net>/: the fold folders and the pooled results."""
    return pathlib.Path(run_dir or default_run_dir()) / protocol / net


def fold_dir_of(run_dir, protocol, net, fold_id):
    return net_dir(run_dir, protocol, net) / check_fold_id(fold_id)


def lmdb_home(run_dir, protocol, fold_id, lmdb_dir=None):
    """The fold's LMDBs, one set per protocol fold for every net:
    RUN_DIR/<protocol>/lmdb/<fold>/ or LMDB_DIR/<protocol>/<fold>/."""
    if lmdb_dir:
        return pathlib.Path(lmdb_dir) / protocol / check_fold_id(fold_id)
    return pathlib.Path(run_dir or default_run_dir()) / protocol / "lmdb" / check_fold_id(
        fold_id)


def snapshot_prefix(fold_dir, net):
    """Caffe's snapshot_prefix of a fold: FOLD/snapshots/<net>."""
    return pathlib.Path(fold_dir) / "snapshots" / net


def snapshot_paths(prefix, iteration):
    """(caffemodel, solverstate) caffe writes at `iteration`."""
    base = "%s_iter_%d" % (prefix, iteration)
    return pathlib.Path(base + ".caffemodel"), pathlib.Path(base + ".solverstate")
