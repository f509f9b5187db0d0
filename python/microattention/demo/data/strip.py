"""The --strip picture: apex frames and their motion per class, for people
whose photographs may be shown."""
# docs/demo-data-strip.png (rows: classes I-V; per person shown: micro apex
# and |micro apex - onset| x 4 of a photograph and of its mirror image) is
# made, from the project folder (e.g. docker run -w /opt/micro-attention ...), by
#   python3 -m microattention demo-data --out /workspace/demo-data --force --furrows 0.6 \
#       --strip docs/demo-data-strip.png
import os

import numpy as np

from microattention.datasets.objective import ROMAN
from microattention.demo.data.layouts import CLASSES
from microattention.errors import UserError


def strip_image(out, manifest, shown=("obama", "lenna"), tile=96):
    """A gray picture, one row per class; for each person shown (micro people
    whose photographs may be committed: people.PEOPLE[...].public): the
    micro apex, |micro apex - onset| x 4 (the subtle motion) and the micro
    apex of the first and second views (photograph and mirror image)."""
    import cv2  # lazy: keeps --help fast
    points = {}
    with open(os.path.join(out, "landmarks.csv")) as handle:
        next(handle)
        for line in handle:
            cells = line.rstrip("\n").split(",")
            points[cells[0]] = np.array(cells[1:], float).reshape(68, 2)

    def crop(path, window=None):
        image = cv2.imread(os.path.join(out, path), cv2.IMREAD_GRAYSCALE)
        if window is None:
            pts = points[path]
            (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
            side = 1.1 * max(x1 - x0, y1 - y0)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            window = np.array([[tile / side, 0, tile / 2 - cx * tile / side],
                               [0, tile / side, tile / 2 - cy * tile / side]])
        return cv2.warpAffine(image, window, (tile, tile), flags=cv2.INTER_AREA,
                              borderMode=cv2.BORDER_REPLICATE), window

    people = [p for p in shown if p in manifest["people"]["micro"]]
    if not people:
        raise UserError("--strip: none of %s is a micro person of this demo data (%s)"
                        % (", ".join(shown), ", ".join(manifest["people"]["micro"])))
    gap = 6
    rows = []
    for number in CLASSES:
        cells = []
        for person in people:
            clips = [c for c in manifest["casme2"] if c["class"] == ROMAN[number]
                     and c["person"] == person][:2]          # a photograph, its mirror image
            for micro in clips:
                folder = "casme2/Cropped/sub%02d/%s/" % (micro["subject"], micro["clip"])
                onset, window = crop(folder + "reg_img%d.jpg" % micro["onset"])
                # The apex in the onset's window, so that the difference shows motion.
                apex, _ = crop(folder + "reg_img%d.jpg" % micro["apex"], window)
                diff = np.clip(np.abs(apex.astype(int) - onset.astype(int)) * 4, 0, 255)
                cells += [apex, diff.astype(np.uint8)]
            cells.append(np.full((tile, gap), 255, np.uint8))
        rows.append(np.hstack(cells[:-1]))
        rows.append(np.full((gap, rows[-1].shape[1]), 255, np.uint8))
    # 6 bits of gray are plenty for a picture and keep the PNG small.
    return np.vstack(rows[:-1]) & 0xFC

