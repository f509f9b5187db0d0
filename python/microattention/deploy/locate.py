"""The face of a user's clip for predict (the faces stage's way, on frames
that were never indexed): the chosen face of every frame, and the clip's one
crop box from the landmarks of up to BOX_FRAMES of them.
"""
import collections
import sys

import numpy as np

from microattention.faces.crop import crop_box, shared_box
from microattention.faces.locator import Locator

BOX_FRAMES = 16          # frames whose landmarks give the clip's crop box


def choose(boxes, face):
    """The largest box, or the face-th from the left; None when there is none."""
    if not boxes:
        return None
    if face is None:
        return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    ordered = sorted(boxes, key=lambda b: (b[0] + b[2]) / 2.0)
    return ordered[face - 1] if face <= len(ordered) else None


def landmarks(locator, gray, box):
    """dlib's 68 points in `box`, refined by the AAM fit when there is a
    fitter and the fit is not rejected (as faces.Locator.locate)."""
    points = locator.landmarks(gray, box)
    if locator.fitter is not None:
        fitted, _, rejected = locator.fitter.fit(gray, points)
        if not rejected:
            return fitted, "aam"
    return points, "dlib"


def locate_clip(clip, locator, face, progress):
    """Pass 1: the chosen face of every frame. Returns the frame numbers,
    the chosen boxes (None: no face), the most faces in one frame, and up to
    2 x BOX_FRAMES roughly evenly spaced frames with a face, kept for the
    crop box (thinned to every other one whenever there are more, so a
    video of unknown length is read once)."""
    from tqdm import tqdm  # lazy: only the progress bar needs it (not on the host)
    numbers, boxes, most, kept, step = [], [], 0, [], 1
    bar = tqdm(total=clip.count_hint() or None, unit="frame", file=sys.stderr,
               desc="%s: faces" % clip.name, disable=not progress, leave=False)
    try:
        for number, gray in clip.frames():
            found = [box for box, _ in locator.detect_all(gray)]
            most = max(most, len(found))
            chosen = choose(found, face)
            if chosen is not None and len(numbers) % step == 0:
                kept.append((gray, chosen))
                if len(kept) > 2 * BOX_FRAMES:
                    kept, step = kept[::2], step * 2
            numbers.append(number)
            boxes.append(chosen)
            bar.update(1)
    finally:
        bar.close()
    return numbers, boxes, most, kept


def clip_box(locator, kept):
    """The clip's one crop box: the median of faces.crop_box over up to
    BOX_FRAMES evenly spaced kept frames; and which landmarks were used."""
    picks = sorted(set(int(round(k)) for k in
                       np.linspace(0, len(kept) - 1, min(BOX_FRAMES, len(kept)))))
    crop_boxes, used = [], collections.Counter()
    for i in picks:
        gray, box = kept[i]
        points, how = landmarks(locator, gray, box)
        crop_boxes.append(crop_box(points))
        used[how] += 1
    return shared_box(crop_boxes), dict(used), len(crop_boxes)


def make_locator(model):
    """The faces stage's Locator with the model's AAM (None: dlib's points)."""
    return Locator(model.aam)
