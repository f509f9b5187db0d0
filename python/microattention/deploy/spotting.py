"""Apex spotting for predict: the frame whose face differs most from the onset's.

Method (METHOD below, written into every prediction.json): every frame's
240x240 face crop (one box per clip, so only the face moves) is reduced to
SPOT_SIZE x SPOT_SIZE by area averaging (sensor noise and sub-pixel jitter
average out; the paper's micro-expressions are motions of a few pixels over
whole facial regions). d(t) = mean absolute grey-level difference between
frame t and the onset frame. d is smoothed by a centred moving average of
window(n) frames (edges repeated), and the apex is the first frame after the
onset where the smoothed curve is largest.
"""
import numpy as np

from microattention.errors import UserError

SPOT_SIZE = 48
MIN_FRAMES = 3          # the onset and at least two frames after it
MAX_WINDOW = 9


def window(n):
    """The smoothing window for a clip of n frames: odd, 1 below 20 frames
    (short clips such as CASME II's cut ones have no frames to spare), then
    one more pair of frames per 20, at most MAX_WINDOW."""
    return int(min(MAX_WINDOW, 2 * (n // 20) + 1))


METHOD = ("spotted: the frame after the onset whose %dx%d area-averaged face crop differs "
          "most (mean absolute grey-level difference) from the onset frame's, on that curve "
          "smoothed by a centred moving average (window: 1 frame below 20 frames, 2 more per "
          "20 frames, at most %d)" % (SPOT_SIZE, SPOT_SIZE, MAX_WINDOW))


def reduce(crop):
    """The SPOT_SIZE x SPOT_SIZE area average of a face crop (uint8)."""
    import cv2  # lazy: OpenCV is optional outside the image (its tests skip without it)
    return cv2.resize(crop, (SPOT_SIZE, SPOT_SIZE), interpolation=cv2.INTER_AREA)


def difference_curve(small, onset):
    """d(t) for a list of reduced crops and the onset's position in it."""
    stack = np.asarray(small, dtype=np.float32)
    return np.abs(stack - stack[onset]).mean(axis=(1, 2)).astype(np.float64)


def smooth(curve, width):
    if width <= 1:
        return np.asarray(curve, np.float64).copy()
    half = width // 2
    padded = np.pad(np.asarray(curve, np.float64), half, mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def spot(small, onset, name="the clip"):
    """(apex position, raw curve, smoothed curve, window) for reduced crops
    small[0..n-1] with the onset at position `onset`."""
    after = len(small) - onset
    if after < MIN_FRAMES:
        raise UserError("%s has %d frame(s) from the onset on; spotting the apex needs at "
                        "least %d: give the apex with --apex N" % (name, after, MIN_FRAMES))
    curve = difference_curve(small, onset)
    width = window(after)
    smoothed = np.full(len(curve), np.nan)
    smoothed[onset:] = smooth(curve[onset:], width)
    apex = onset + 1 + int(np.argmax(smoothed[onset + 1:]))
    return apex, curve, smoothed, width
