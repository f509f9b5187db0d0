#!/usr/bin/env python3
"""Benchmark of training (prints figures; not a test).

Seconds per training iteration of each net at the protocols' batch sizes,
measured with `caffe time` (forward + backward of the net with a loss, the
bulk of an SGD iteration; the update and the LMDB read add little), and from
them the time of a whole protocol run on this machine with the real data's
training-set sizes:

  CDE  46 folds (CASME II 26 + SAMM 20 subjects), classes I-V of Table 1
       pooled; a fold's training side is resampled to 5 x its largest class
       (anger: 99 + 20 = 119 less the held-out subject's anger clips) and
       x 5 by the corner crops; 30 epochs at batch 8.
  LOSO CASME II, 26 folds, likewise (5 x (99 - held-out) x 5), batch 10.
  HDE  2 folds: CASME II -> SAMM (5 x 99, no corner crops), SAMM -> CASME II
       (5 x 24), batch 10.
  pretrain  9/10 of the macro-expression images, batch 50.

The held-out subject's anger count differs per fold; summed over the folds
it is the whole class, which is what the estimate uses (the per-fold
rounding up of iterations adds at most one iteration per epoch and fold).
Caffe's per-epoch start (two nets built, the snapshot loaded) is measured
too and added per epoch.

  docker run --rm -v "$PWD/workspace:/workspace" localhost/micro-attention \\
      tools/bench_training.py [--iterations 5] [--nets micro_attention]
"""
import argparse
import math
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))

from microattention import paper, protocols  # noqa: E402
from microattention.nets import prototxt as nets

MICRO = paper.CLASSES
SUBJECTS = {"casme2": 26, "samm": 20}


def caffe_time(net, batch, iterations):
    """(ms forward+backward per iteration, seconds to set the net up)."""
    param = nets.render_timing(net, num_output=5, batch=batch)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "net.prototxt")
        nets.write_prototxt(param, path)
        env = dict(os.environ)
        env.pop("GLOG_minloglevel", None)
        env["GLOG_logtostderr"] = "1"
        start = time.time()
        out = subprocess.run(["caffe", "time", "-model", path, "-iterations", str(iterations)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True, env=env)
        wall = time.time() - start
    found = re.search(r"Average Forward-Backward: ([\d.]+) ms", out.stdout)
    if out.returncode != 0 or not found:
        raise SystemExit("caffe time failed for %s batch %d:\n%s" % (net, batch, out.stdout[-2000:]))
    ms = float(found.group(1))
    # caffe time runs one warm-up pass plus `iterations` timed ones
    setup = max(0.0, wall - ms / 1000.0 * (iterations + 1))
    return ms, setup


def fold_records():
    """{protocol: [training records of each fold]} with the real data's sizes."""
    casme = [paper.TABLE1["casme2"][c] for c in MICRO]
    samm = [paper.TABLE1["samm"][c] for c in MICRO]
    pooled = [a + b for a, b in zip(casme, samm)]
    crops = {p: 5 if protocols.get(p).augmentation.corner_crops else 1 for p in protocols.NAMES}

    def loso(counts, subjects, protocol):
        # the largest class less, on average, the held-out subject's share of it
        largest = max(counts)
        return [len(counts) * largest * (subjects - 1) / subjects * crops[protocol]] * subjects
    macro = sum(paper.PRETRAIN_IMAGES.values())
    return {
        "pretrain": [macro - int(round(macro / 10.0))],
        "hde": [len(casme) * max(casme) * crops["hde"], len(samm) * max(samm) * crops["hde"]],
        "cde": loso(pooled, sum(SUBJECTS.values()), "cde"),
        "loso": loso(casme, SUBJECTS["casme2"], "loso"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=5,
                        help="timed iterations per net and batch (default 5)")
    parser.add_argument("--nets", default=",".join(nets.NETS),
                        help="comma-separated nets (default all three)")
    args = parser.parse_args()
    wanted = [n for n in args.nets.split(",") if n]
    # each protocol's own net at its batch, and every net at the batches of
    # the micro-expression protocols (the baselines of Tables 2-4 train there)
    pairs = sorted({(p.net, p.batch) for p in protocols.PROTOCOLS.values()} |
                   {(n, p.batch) for p in protocols.PROTOCOLS.values() if p.name != "pretrain"
                    for n in nets.NETS})
    print("caffe time, %d iterations, OPENBLAS_NUM_THREADS=%s, %d CPUs, load %.1f"
          % (args.iterations, os.environ.get("OPENBLAS_NUM_THREADS", "(default)"),
             os.cpu_count() or 0, os.getloadavg()[0]))
    timing = {}
    print("%-18s %6s %12s %12s %10s" % ("net", "batch", "s/iteration", "ms/image", "set-up s"))
    for net, batch in pairs:
        if net not in wanted:
            continue
        ms, setup = caffe_time(net, batch, args.iterations)
        timing[net, batch] = (ms / 1000.0, setup)
        print("%-18s %6d %12.3f %12.1f %10.1f" % (net, batch, ms / 1000.0, ms / batch, setup),
              flush=True)
    print()
    print("Whole runs at these speeds (one fold at a time; 30 epochs; each epoch is a caffe "
          "process whose set-up is counted twice: train and test nets):")
    records = fold_records()
    print("%-9s %-18s %6s %6s %12s %14s %10s" % ("protocol", "net", "folds", "batch",
                                               "records/fold", "iterations", "hours"))
    for name, p in protocols.PROTOCOLS.items():
        for net in wanted:
            if (net, p.batch) not in timing:
                continue
            per_iter, setup = timing[net, p.batch]
            folds = records[name]
            iterations = sum(p.total_epochs * math.ceil(n / p.batch) for n in folds)
            seconds = iterations * per_iter + len(folds) * p.total_epochs * 2 * setup
            print("%-9s %-18s %6d %6d %12.0f %14d %10.1f" % (
                name, net, len(folds), p.batch, sum(folds) / len(folds), iterations,
                seconds / 3600.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
