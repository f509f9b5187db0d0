"""'lmdb inspect DIR': the records per label and a contact sheet of the
first records."""
import collections
import pathlib

import numpy as np

from microattention import files
from microattention.errors import UserError
from microattention.lmdbs.records import read_records
from microattention.lmdbs.writer import sidecar_path


def inspect(path, png=None, count=64, columns=8, tile=128, log=None):
    """Print the records per label of the LMDB at path and write a contact
    sheet of its first `count` records (default PATH.png); returns the counts."""
    import cv2  # lazy: OpenCV is slow to import (keeps the command's --help fast)
    log = log or print
    path = pathlib.Path(path)
    names = {}
    side = sidecar_path(path)
    if side.is_file():
        try:
            meta = files.read_json(side)
            names = {int(v): k for k, v in meta.get("class_numbers", {}).items()}
        except (UserError, ValueError, AttributeError):
            names = {}
    png = pathlib.Path(png) if png else pathlib.Path(str(path).rstrip("/\\") + ".png")
    files.check_outputs([png], [path, side], {png: "--out"})
    counts = collections.Counter()
    tiles = []
    for key, label, image in read_records(path):
        counts[label] += 1
        if len(tiles) < count:
            small = cv2.resize(image, (tile, tile), interpolation=cv2.INTER_AREA)
            if small.ndim == 3:
                small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
            caption = np.full((18, tile), 255, np.uint8)
            cv2.putText(caption, "%s %d %s" % (key[-5:], label, names.get(label, "")),
                        (2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.36, 0, 1, cv2.LINE_AA)
            tiles.append(np.vstack([small, caption]))
    total = sum(counts.values())
    log("%s: %d records" % (path, total))
    log("  %-5s %-12s %8s" % ("label", "class", "records"))
    for label in sorted(counts):
        log("  %-5d %-12s %8d" % (label, names.get(label, "?"), counts[label]))
    if tiles:
        rows = -(-len(tiles) // columns)
        blank = np.full_like(tiles[0], 255)
        tiles += [blank] * (rows * columns - len(tiles))
        sheet = np.vstack([np.hstack(tiles[r * columns:(r + 1) * columns]) for r in range(rows)])
        ok, data = cv2.imencode(".png", sheet)
        files.atomic_write(png, data.tobytes())
        log("contact sheet of the first %d records: %s" % (min(total, count), png))
    return counts
