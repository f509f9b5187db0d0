#!/usr/bin/env python3
"""Benchmark of the demo: runs `python3 -m microattention demo` (the full one,
or --quick) into a fresh folder and prints the wall and CPU seconds of every
stage, the people of the LOSO and the pre-training sets, the LOSO accuracy
and UAR of both nets with the binomial tail P(X >= right | chance 0.2) and
the target (tail < 0.01 on >= 40 test faces from >= 4 held-out people), the
pre-training accuracy on held-out pre-training people and the AU-region scores of the baseline's
and the micro-attention net's maps. Inside the image:

  docker run --rm -v "$PWD/workspace:/workspace" localhost/micro-attention \\
      python3 /opt/micro-attention/tools/bench_demo.py [--quick] [--out DIR]

With --read DIR it only prints the figures of a demo folder that has run.
The demo's budget is 10 minutes on 2 idle cores; on a shared machine the
CPU seconds are the steadier figure (wall >= CPU / cores)."""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from microattention.demo.config import NETS  # noqa: E402
from microattention.demo.pipeline import Demo  # noqa: E402
from microattention.demo.statistics import CHANCE, binomial_tail  # noqa: E402


def figures(out):
    out = pathlib.Path(out)
    m = Demo(out, json.loads((out / "demo.json").read_text())["config"]).markers()
    print("%-22s %9s %9s" % ("stage", "wall s", "CPU s"))
    for stage, r in m.items():
        print("%-22s %9.1f %9.1f" % (stage, r["seconds"], r["cpu_seconds"]))
    wall = sum(r["seconds"] for r in m.values())
    cpu = sum(r["cpu_seconds"] for r in m.values())
    cores = len(os.sched_getaffinity(0))
    print("%-22s %9.1f %9.1f  (%d cores here; on 2 idle cores about %.0f s)"
          % ("total", wall, cpu, cores, max(cpu / 2.0, cpu / max(cores, 1))))
    if "faces" in m and "people" in m["faces"]:
        people = m["faces"]["people"]
        print("\npeople: LOSO (micro) %d: %s; pre-training (macro) %d: %s"
              % (len(people["micro"]), ", ".join(people["micro"]), len(people["macro"]),
                 ", ".join(people["macro"])))
    if "pretrain" in m:
        r = m["pretrain"]
        right = int(round(r["validation_accuracy"] * r["validation_samples"]))
        print("\npre-training validation on held-out people %s: accuracy %.3f (%d of %d "
              "faces, P(X >= right | %g) = %.2g); clip tenth (people shared) %s"
              % (",".join(r.get("validation_people", [])), r["validation_accuracy"], right,
                 r["validation_samples"], CHANCE,
                 binomial_tail(right, r["validation_samples"], CHANCE),
                 r.get("clip_tenth_accuracy")))
    for net in NETS:
        r = m.get("loso-" + net)
        if r:
            right = int(round(r["war"] * r["samples"]))
            tail = binomial_tail(right, r["samples"], CHANCE)
            met = tail < 0.01 and r["samples"] >= 40 and len(r["folds"]) >= 4
            print("LOSO %-16s accuracy %.3f (%d of %d), UAR %.3f, %d of %d folds%s; "
                  "P(X >= %d | %g) = %.2g (target < 0.01, >= 40 faces, >= 4 people: %s); "
                  "per fold %s" % (
                      net, r["war"], right, r["samples"], r["uar"], len(r["folds"]),
                      r["folds_total"], " PARTIAL" if len(r["folds"]) < r["folds_total"] else "",
                      right, CHANCE, tail, "met" if met else "NOT met",
                      ", ".join("%s %.2f" % kv for kv in r["per_fold_war"].items())))
    if "visualize" in m:
        print("\nAU-region scores over %s (fold %s): score = map mass in the class's AU "
              "regions, lift = score / region area" % (", ".join(m["visualize"]["samples"]),
                                                      m["visualize"]["fold"]))
        for key, v in m["visualize"]["scores"].items():
            print("  %-32s score %.3f  lift %.2f" % (key, v["score"], v["lift"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the reduced demo")
    parser.add_argument("--out", help="demo folder (default: a new temporary folder)")
    parser.add_argument("--read", metavar="DIR", help="only print the figures of DIR")
    args = parser.parse_args()
    if args.read:
        figures(args.read)
        return 0
    out = args.out or os.path.join(tempfile.mkdtemp(prefix="bench-demo-"), "demo")
    argv = [sys.executable, "-m", "microattention", "demo", "--out", out]
    if args.quick:
        argv.append("--quick")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "python"), env.get("PYTHONPATH", "")])
    start = time.time()
    code = subprocess.call(argv, env=env)
    print("\ndemo exit code %d after %.0f s wall\n" % (code, time.time() - start))
    if code == 0:
        figures(out)
    return code


if __name__ == "__main__":
    sys.exit(main())
