"""Report of one or more runs beside the paper's tables: report.md and a
self-contained report.html (figures inline), plus the figures as PNG files.

  report RUN_DIR... [--out DIR] [--index INDEX.csv]...

RUN_DIR is a run folder as the `run` and `train-fold` commands write it,
RUN/<protocol>/<net>/ holding one folder per fold (RUN/<protocol>/ or RUN/
itself are expanded to the net folders under them). Per fold the report
reads (see microattention.train.layout):

  settings.json    protocol, net, fold, seed, epochs, input checksums
                   (written when the fold starts)
  done.json        written last: the fold is finished
  predictions.csv  test predictions (microattention.metrics' format)
  provenance.json  protocol table used, schedule, the protocol's folds of the
                   index, the initial weights' origin, caffe version, git
                   commit, BLAS, image, host, device, checksums
  solver.prototxt  the solver caffe ran (type, base_lr, momentum, decay, gamma)
  caffe.log        caffe's output (learning curves)
and RUN/<protocol>/<net>/metrics.json as `run` pools it.

What it gives: the paper's table of the protocol with the runs as extra rows
marked "this run" (HDE: Table 2; CDE: Tables 4 and 5; LOSO: Table 6;
pretrain: the paper's validation accuracy); one side-by-side table of the
runs (WAR, UAR, F1 (MEGC 2018), UF1 (MEGC 2019)); every protocol setting of
each run beside the protocol table (with the solver type, the BatchNorm
statistics tested with and whether the initial weights lead back to ImageNet),
project choices marked and any difference flagged as NOT the paper's setup, in
every report; per-fold metrics; the confusion matrix;
learning curves; provenance. The paper's F1 of Table 4 is the pooled UF1
(MEGC 2019 definition, see docs/paper-setup.md section 5), so UF1 is the
figure put beside it; the MEGC 2018 F1 is printed too.

Every figure is the final snapshot's, except one column labelled "best test
epoch (NOT a result)" in the side-by-side and per-fold tables: what picking
the best epoch on the test folds would have reported (per fold the epoch
with the highest test accuracy caffe.log holds at an epoch's end; pooled
over the finished folds weighted by their test samples, a WAR; WAR only, as
Caffe logs no per-class counts). See microattention/report/best_epoch.py.

Metrics pool the predictions of the finished folds only. A run whose folds
are not all finished is reported as "k of n folds done" and every number of
it is marked PARTIAL. The number of folds n is the protocol's folds of the
index as train-fold recorded them (provenance.json), else the run's index
(--index, or the path recorded in provenance.json) split as the folds
command splits it; never the list of folds `run` happened to pool (nor
metrics.json's folds_of_protocol, which `run` takes from the same record).
Without any of them it is unknown and the run is reported as partial.

The output is the same bytes for the same runs, apart from the line that
says when the report was made.
"""
import argparse

from microattention.report.document import build, write_report
from microattention.report.load import load_runs

__all__ = ["build", "write_report", "load_runs", "add_arguments", "run"]


EXAMPLES = """\
examples:
  python3 -m microattention report runs/cde/micro_attention --out reports/cde
  python3 -m microattention report runs/cde --out reports/cde-three-nets
  python3 -m microattention report runs/loso --index casme2.csv --index samm.csv \\
      --index smic.csv --out reports/loso
"""


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR",
                        help="run folder(s) RUN/<protocol>/<net> (RUN/<protocol> or RUN are "
                             "expanded to the nets under them); all of one protocol")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="output folder for report.md, report.html and the PNGs "
                             "(default ./report-<protocol>)")
    parser.add_argument("--index", metavar="INDEX.csv", action="append", default=None,
                        help="a run's index, to count its folds when the run is not pooled "
                             "and the index recorded in provenance.json is not here; repeat "
                             "for runs on different indexes (matched by sha256)")
    parser.add_argument("--per-fold-init", action="store_true",
                        help="accept folds that started from different seeds and start "
                             "weights (a run that gave each fold its own initialisation on "
                             "purpose, as demo --attention does); the report says so. "
                             "Without it such a run is refused as mixing settings")


def run(args):
    runs, written = write_report(args.runs, args.out, args.index,
                                 per_fold_init=args.per_fold_init)
    for r in runs:
        print("%s: %s (%s)" % (r.path, r.status(), r.net))
    print("wrote %s" % ", ".join(str(p) for p in written[:2]))
    return 0
