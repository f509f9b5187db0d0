"""The ground truth of where a clip moves: the pixels the generator changed
between the neutral frame and the apex frame, from its own frames before
brightness and sensor noise (the warp of the AU moves and the wrinkle
lines), thresholded. Written per CASME II clip as a mask in frame pixels
(OUT/casme2/truth/subNN/EPcc_kk.png, listed in the manifest), so that the
attention measurement can carry it into each face crop without calling the
generator."""
import os

import numpy as np

from microattention import files
from microattention.demo.data.layouts import MANIFEST
from microattention.errors import UserError

TRUTH_DIR = "truth"
# Grey levels (of 255) of change between the noise-free neutral and apex
# frames that count as "changed": above the rounding of the warp (1 level),
# below the faintest part of a wrinkle line the demo draws.
THRESHOLD = 3


def _gray(image):
    import cv2  # lazy: keeps --help fast
    image = np.asarray(image)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def truth_mask(neutral, apex, threshold=THRESHOLD):
    """uint8 mask (255 = changed) of |apex - neutral| >= threshold of two
    frames of one clip (gray or BGR, same size)."""
    a = _gray(neutral).astype(np.int16)
    b = _gray(apex).astype(np.int16)
    if a.shape != b.shape:
        raise ValueError("frames of %s and %s pixels" % (a.shape, b.shape))
    return np.where(np.abs(b - a) >= threshold, 255, 0).astype(np.uint8)


def truth_path(subject, clip):
    """A clip's mask file, relative to OUT/casme2."""
    return "%s/sub%02d/%s.png" % (TRUTH_DIR, int(subject), clip)


def truth_masks(data_dir):
    """{(index subject 'subNN', clip): mask file} of every CASME II clip of
    a demo-data folder, from its manifest (a folder written before the truth
    masks existed gives a UserError saying so)."""
    manifest_path = os.path.join(str(data_dir), MANIFEST)
    manifest = files.read_json(manifest_path)
    if not manifest:
        raise UserError("%s: no demo-data manifest" % manifest_path)
    out = {}
    for clip in manifest.get("casme2", []):
        if "truth" not in clip:
            raise UserError("%s: clip %s has no truth mask; generate the demo data again"
                            % (manifest_path, clip.get("clip")))
        path = os.path.join(str(data_dir), "casme2", clip["truth"])
        if not os.path.isfile(path):
            raise UserError("%s: truth mask %s of clip %s is missing"
                            % (manifest_path, path, clip["clip"]))
        out[("sub%02d" % int(clip["subject"]), clip["clip"])] = path
    return out
