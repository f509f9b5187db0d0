#!/usr/bin/env python3
"""The demo's LOSO fine-tuning, judged without a LOSO face: LOSO folds over the
demo's validation people (pre-training people held out of pre-training whole,
mirror images included), from the same start weights (OUT/weights/
NET_macro.caffemodel, the pre-trained ResNet-10 transferred) and with the
demo's LOSO protocol. Each fold fine-tunes on the other validation people and
tests on one, as the demo's LOSO does with the micro people, so the LOSO
settings (epochs, say) can be chosen on people that are never a LOSO test
face. Needs a demo folder whose pre-training and transfer stages have run.
Inside the image:

  docker run --rm -v "$PWD/workspace:/workspace" localhost/micro-attention \\
      python3 /opt/micro-attention/tools/validate_loso.py --demo demo \\
      [--net NET] [--epochs N] [--lr LR] [--keep-bn]

--lr, --epochs and --keep-bn change the demo's LOSO fine-tuning (its config's
learning rate and epochs, BatchNorm statistics recomputed after training);
--lr 0 leaves the weights as transferred and only recomputes BatchNorm.
Prints the settings, each fold and the pooled right answers with the
binomial tail P(X >= right | 0.2), and the per-person table of demo.md. Runs
go to DEMO/validation-loso/e<N>[-lr<LR>][-bn-kept]/ or --out instead of
DEMO/validation-loso (-lr only when it is not the config's; a finished fold
is not trained again)."""
import argparse
import json
import os
import pathlib
import sys

os.environ.setdefault("GLOG_minloglevel", "2")   # Caffe's own log: the fold logs keep it

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from microattention import metrics, protocols  # noqa: E402
from microattention.demo.checks import people_of_sets  # noqa: E402
from microattention.demo.config import CONFIGS, NETS  # noqa: E402
from microattention.demo.pipeline import Demo  # noqa: E402
from microattention.demo.statistics import binomial_tail, per_person  # noqa: E402
from microattention.train import runs, selection  # noqa: E402
from microattention.train.fold import train_fold  # noqa: E402
from microattention.errors import UserError  # noqa: E402


def plan(out, epochs, recalibrate_bn=True, run_root=None, lr=None):
    """(Demo, LOSO protocol, run folder) of a validation run: the demo's LOSO
    protocol at learning rate lr (None: the config's), its folds trained
    under run_root (default DEMO/validation-loso)/e<epochs>[-lr<lr>][-bn-kept]
    (-lr only when lr is not the config's)."""
    out = pathlib.Path(out)
    d = Demo(out, json.loads((out / "demo.json").read_text())["config"])
    protocol = d.protocol("loso")
    if lr is not None and lr != protocol.base_lr:
        protocol = protocols.variant(protocol, base_lr=lr)
        rate = "-lr%g" % lr
    else:
        rate = ""
    run_dir = pathlib.Path(run_root or d.p("validation-loso")).resolve() / (
        "e%d%s%s" % (epochs, rate, "" if recalibrate_bn else "-bn-kept"))
    return d, protocol, run_dir


def validate(out, nets, epochs, recalibrate_bn=True, run_root=None, lr=None):
    """Returns {net: (right, faces)}; the folds are trained as plan() says."""
    d, protocol, run_dir = plan(out, epochs, recalibrate_bn, run_root, lr)
    index = d.p("index", "ckplus-validation.csv")
    for path in [index] + [d.start_weights(net) for net in nets]:
        if not path.is_file():
            raise UserError("%s: missing; run the demo's pre-training and transfer stages "
                            "first" % path)
    folds = [f["fold"] for f in selection.fold_list(index, "loso")]
    print("LOSO over the validation people: lr %g, %d epoch(s), BatchNorm %s; folds in %s"
          % (protocol.base_lr, epochs, "recomputed" if recalibrate_bn else "running kept",
             run_dir), flush=True)
    names = {s: p for people in people_of_sets(d.p("data")).values()
             for p, s in people.items()}
    results = {}
    for net in nets:
        for fold in folds:
            done = train_fold(index, d.p("faces", "ckplus"), protocol, fold,
                              d.start_weights(net), net=net, run_dir=run_dir,
                              epochs=epochs, seed=0, recalibrate_bn=recalibrate_bn,
                              log=lambda text: None)
            print("%s %s: %.3f on %d faces" % (net, fold, done["metrics"]["war"],
                                               done["metrics"]["samples"]), flush=True)
        runs.pool(run_dir, "loso", net, folds, metrics)
        pooled = json.loads((run_dir / "loso" / net / "metrics.json").read_text())["pooled"]
        right = int(round(pooled["war"] * pooled["samples"]))
        results[net] = (right, pooled["samples"])
        print("%s pooled, %d validation people, %d epoch(s): %d of %d right, UAR %.3f, "
              "P(X >= %d | 0.2) = %.2g" % (net, len(folds), epochs, right, pooled["samples"],
                                          pooled["uar"], right,
                                          binomial_tail(right, pooled["samples"], 0.2)))
        for row in per_person(run_dir / "loso" / net / "predictions.csv", names):
            print("  %s (%s): %d of %d, most given %s %.0f%%, right: %s"
                  % (row[:5] + (100 * row[5], ", ".join(row[6]) or "none")))
    return results


def learning_rate(text):
    """A learning rate: a number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("%r is not a learning rate (a number >= 0)" % text)
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", required=True, help="a demo folder (pre-training run)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="LOSO epochs per fold (default: the demo's)")
    parser.add_argument("--lr", type=learning_rate, default=None,
                        help="LOSO learning rate (default: the demo's; 0: BatchNorm "
                             "recomputed only)")
    parser.add_argument("--keep-bn", action="store_true",
                        help="keep Caffe's running BatchNorm statistics (the demo "
                             "recomputes them after each fold's training)")
    parser.add_argument("--out", default=None,
                        help="where the folds are trained (default: DEMO/validation-loso)")
    parser.add_argument("--net", action="append", choices=NETS,
                        help="the nets (default: both)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.demo)
    try:
        config = CONFIGS[json.loads((out / "demo.json").read_text())["config"]]
        validate(out, args.net or list(NETS), args.epochs or config.loso_epochs,
                 recalibrate_bn=not args.keep_bn, run_root=args.out, lr=args.lr)
    except (UserError, OSError) as error:
        print("validate_loso: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
