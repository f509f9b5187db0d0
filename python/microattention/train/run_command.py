"""Run every fold of a protocol, N at a time, then pool their predictions.

  run --protocol hde|cde|loso|pretrain --index INDEX.csv --faces DIR --weights W [--jobs N]

Each fold is a `train-fold` process (its output goes to the fold's
train-fold.log, caffe's to its caffe.log); a line is printed when a fold
starts, finishes or fails. While folds run, their progress is shown (read
from their caffe.log, microattention/train/progress.py): per running fold
the epoch k/N, the iteration, the last training loss, the time elapsed and
its ETA (the iterations left at the iteration rate measured so far), and the
ETA of the whole run (folds not started are taken to last as long as the
mean fold so far). On a terminal these lines are redrawn in place about once
a second; otherwise (a log file, CI, a parent process) a fold's line is
printed on each epoch and at most every 30 s, the run's every 30 s and when
a fold ends.
Finished folds (done.json with the same settings) are skipped, and an
unfinished one resumes from its last snapshot, so running the same command
again after a failure or a kill continues where it stopped. When every fold
is finished, RUN_DIR/<protocol>/<net>/ gets predictions.csv (all folds, in
metrics.py's format), metrics.json (pooled and per fold: WAR, UAR, F1 (MEGC
2018), UF1 (MEGC 2019)) and metrics.md. `--protocol pretrain` trains
ResNet-10 on the pooled macro-expression index with 1/10 held out and
reports the validation accuracy next to the paper's (4.1).

With N jobs on a CPU, each caffe gets cores/N OpenBLAS threads unless
OPENBLAS_NUM_THREADS is set.

Before the first fold starts, the disk space the run adds (LMDBs not built
yet, final weights, snapshots of the running folds; microattention/train/disk.py)
is printed, and the run is refused when a filesystem it writes to has less
free space.
"""
import argparse
import sys

from microattention import files
from microattention.errors import UserError
from microattention.train import options
from microattention.train.runs import run_protocol

EXAMPLES = """\
examples:
  python3 -m microattention run --protocol loso --index casme2.csv --faces faces/casme2 \\
      --weights weights/micro_attention_macro.caffemodel --jobs 2
  python3 -m microattention run --protocol pretrain --index macro.csv --faces faces/macro \\
      --weights weights/resnet10_cvgj_gray.caffemodel
"""


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    options.add_common_arguments(parser, fold=False)
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="folds trained at the same time (default 1)")


def run(args):
    if args.jobs < 1:
        raise UserError("--jobs %d: must be at least 1" % args.jobs)
    with files.terminate_as_interrupt():
        try:
            return run_protocol(args.index, args.faces, args.protocol, args.weights,
                                net=args.net, run_dir=args.run_dir, jobs=args.jobs,
                                epochs=args.epochs, seed=args.seed, gpu=args.gpu,
                                lmdb_dir=args.lmdb_dir, keep_snapshots=args.keep_snapshots,
                                delete_lmdbs=args.delete_lmdbs)
        except KeyboardInterrupt:
            sys.stderr.write("microattention run: interrupted; run the same command again to "
                             "continue (finished folds are kept)\n")
            return 130
