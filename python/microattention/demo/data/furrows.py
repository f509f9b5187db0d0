"""Appearance changes of the action units: the wrinkles and furrows that FACS
describes beside the movements (horizontal forehead lines with AU1/AU2,
vertical lines between the brows with AU4, crow's feet with AU6, the
nasolabial furrow with AU10/AU12, ...), drawn as soft dark lines that follow
the moved landmarks. A cue of the expression, not of the person: the same
lines, at the same places relative to the face, on every face; the warp alone
(geometry.py) changes each face's shape differently with its proportions.

Lines are given for the image-left half (the subject's right side) and the
midline, in inter-ocular distances from a landmark, (dx, dy) face upright;
the other half follows through MIRROR with dx negated, as in aus.AU_LEFT."""
import numpy as np

from microattention.faces.aus import MIRROR

# AU -> polylines, each a list of (iBUG point, dx, dy). AUs not listed (5,
# 23, 25, 26) change shape only.
FURROWS_LEFT = {
    1: [[(19, 0, -h), (21, 0, -h - .02), (21, .16, -h - .02)] for h in (.2, .32, .44)],
    2: [[(17, 0, -h), (18, 0, -h - .03), (19, 0, -h - .04)] for h in (.18, .3)],
    4: [[(21, .05, -.1), (21, .07, .14)], [(21, -.03, -.02), (21, 0, .1)]],
    6: [[(36, -.06, -.03), (36, -.22, -.1)], [(36, -.07, 0), (36, -.24, 0)],
        [(36, -.06, .03), (36, -.22, .1)], [(41, -.04, .14), (40, .06, .15)]],
    7: [[(36, .02, .06), (41, 0, .07), (40, 0, .07), (39, -.02, .05)]],
    9: [[(27, 0, .02 + k * .07), (27, -.13, .02 + k * .07)] for k in range(3)],
    10: [[(31, -.1, -.12), (31, -.2, .02), (48, -.1, -.04)]],
    12: [[(31, -.1, -.12), (31, -.24, .04), (48, -.13, 0), (48, -.1, .14)]],
    15: [[(48, -.03, .05), (48, -.07, .32)]],
    17: [[(57, 0, .14), (58, -.06, .13), (59, -.06, .09)]],
}


def _both_sides(left):
    table = {}
    for au, lines in left.items():
        table[au] = [list(line) for line in lines] + [
            [(MIRROR[p], -dx, dy) for p, dx, dy in line] for line in lines]
    return table


FURROWS = _both_sides(FURROWS_LEFT)
WIDTH = 0.03        # line width, inter-ocular distances
BLUR = 0.025        # Gaussian sigma of the line's edge, inter-ocular distances


def furrow_mask(points, aus, depths, iod, rotation_matrix, shape):
    """(H, W) float32 darkening in [0, 1): for each AU with lines, its lines
    at depth depths[au], anchored at `points` (68, 2; the frame's moved
    landmarks); overlapping lines keep the deepest value."""
    import cv2  # lazy: keeps --help fast
    height, width = shape[:2]
    mask = np.zeros((height, width), np.float32)
    shift = 4
    thickness = max(1, int(round(WIDTH * iod)))
    for au in aus:
        depth = float(depths.get(au, 0.0))
        if au not in FURROWS or depth <= 0:
            continue
        layer = np.zeros_like(mask)
        for line in FURROWS[au]:
            offsets = np.array([(dx, dy) for _, dx, dy in line]) @ rotation_matrix.T * iod
            xy = points[[p for p, _, _ in line]] + offsets
            poly = np.round(xy * (1 << shift)).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(layer, [poly], False, depth, thickness=thickness,
                          lineType=cv2.LINE_AA, shift=shift)
        np.maximum(mask, layer, out=mask)
    sigma = BLUR * iod
    if sigma > 0.3 and mask.any():
        mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    return np.clip(mask, 0.0, 0.95)


def darken(image, mask):
    """image * (1 - mask), rounded, same dtype (uint8); colour images darken
    in every channel."""
    factor = 1.0 - mask
    if image.ndim == 3:
        factor = factor[:, :, None]
    return np.clip(np.rint(image.astype(np.float32) * factor), 0, 255).astype(image.dtype)
