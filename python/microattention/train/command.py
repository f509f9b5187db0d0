"""Train one fold of a protocol with Caffe and test its final snapshot.

  train-fold --protocol P --fold FOLD --index INDEX.csv --faces DIR --weights INIT.caffemodel

Steps, all in RUN_DIR/<protocol>/<net>/<fold>/ (RUN_DIR default: the
project's workspace/runs, /workspace/runs in the image):

 1. The fold's samples (folds.make_folds; pre-training: the whole index, of
    which the lmdb stage holds 1/10 out) go to train.txt / test.txt, and
    lmdbs.build writes train (balanced and augmented as the protocol says)
    and test (plain) into the fold's LMDB folder, RUN_DIR/<protocol>/lmdb/<fold>/
    (or --lmdb-dir DIR: DIR/<protocol>/<fold>/, e.g. node-local scratch). The
    three nets share it: built once under its lock, reused (same bytes) by the
    others, read under a shared lock, rebuilt only when no net reads it, and
    deleted after the fold with --delete-lmdbs.
 2. The fold's train_val.prototxt (class count, the protocol's batch, the two
    LMDBs) and solver.prototxt (the protocol's schedule, in epochs of this
    fold's training-set size) are rendered, and deploy.prototxt.
 3. The stock `caffe train` runs one epoch per process: epoch k runs
    `caffe train -solver solver_segment.prototxt -snapshot <epoch k-1>.solverstate`
    (epoch 1: `-weights INIT`) up to iteration k x L, L = ceil(records/batch),
    and snapshots there. Caffe restores the iteration, the learning rate and
    the momentum from a solverstate, but its Data layer starts again at the
    first record and its crop generator restarts from `random_seed`. Running
    every epoch as its own process makes that the rule rather than an
    accident: every epoch reads the LMDB from its first record, and epoch k
    draws its crops from random_seed = seed * 1000 + k. So a run killed at any
    point and resumed from its last snapshot does exactly what an
    uninterrupted run does (the same weights and predictions, bit for bit,
    at the same OpenBLAS thread count), and
    the learning rate steps (every step_epochs x L iterations) fall on epoch
    boundaries. Caffe's output goes to caffe.log (appended across epochs and
    resumptions); old snapshots are pruned (the last 2 are kept) and, once
    done.json is written, the solverstates and every snapshot but the final
    weights are removed (--keep-snapshots keeps them).
 4. The FINAL snapshot is tested through pycaffe on deploy.prototxt, one test
    record at a time (224x224 records as the test Data layer gives them; a
    larger record is centre-cropped to 224 as Caffe's TEST transform would).
    No epoch is ever chosen on the test side. predictions.csv is in the
    format of microattention.metrics; metrics.json holds WAR, UAR, F1 and UF1
    and the accuracy caffe's own test net logged at the last iteration.
 5. provenance.json records the inputs and their sha256 (index, faces.csv,
    initial weights, LMDB sidecars, rendered net and solver files, final
    snapshot), the seed, the schedule, the protocol's folds of the index, where
    the initial weights came from (microattention.train.provenance), and where it
    ran: caffe version, git commit, BLAS kernel, image, host and device; final.caffemodel
    is the tested snapshot under a fixed name (the input of the next stage of
    docs/transfer-chain.md); done.json is written last. A fold with done.json is not trained again; a fold whose
    folder holds another configuration (other weights, seed, epochs, index,
    faces, protocol changes or BatchNorm recalibration: every key of either
    side) is refused rather than skipped into or resumed.
"""
import argparse
import sys

from microattention import files
from microattention.train import options
from microattention.train.fold import train_fold

EXAMPLES = """\
examples:
  python3 -m microattention train-fold --protocol loso --fold sub01 \\
      --index casme2.csv --faces faces/casme2 --weights weights/micro_attention_macro.caffemodel
  tools/train_fold.sh loso sub01 --index casme2.csv --faces faces/casme2 \\
      --weights weights/micro_attention_macro.caffemodel
"""


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    options.add_common_arguments(parser)


def run(args):
    with files.terminate_as_interrupt():
        try:
            result = train_fold(args.index, args.faces, args.protocol, args.fold, args.weights,
                                net=args.net, run_dir=args.run_dir, epochs=args.epochs,
                                seed=args.seed, gpu=args.gpu, lmdb_dir=args.lmdb_dir,
                                keep_snapshots=args.keep_snapshots,
                                delete_lmdbs=args.delete_lmdbs)
        except KeyboardInterrupt:
            sys.stderr.write("microattention train-fold: interrupted; run the same command "
                             "again to resume from the last snapshot\n")
            return 130
    print(summary_line(result))
    return 0


def summary_line(result):
    m = result.get("metrics") or {}
    what = ", ".join("%s %.4f" % (k.upper().split("_")[0], m[k])
                     for k in ("war", "uar", "f1_megc2018", "uf1_megc2019") if k in m)
    return "fold %s (%s, %s): %s%s; %s" % (
        result["fold"], result["protocol"], result["net"], what,
        " (already finished)" if result.get("skipped") else "", result["fold_dir"])
