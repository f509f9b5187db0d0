"""The paper's training-set augmentation and class balancing, done when an LMDB
is built (Caffe's Data layer can only crop and mirror).

How resampling and augmentation combine, for a training split:

1. Resampling (protocols.PROTOCOLS[p].resample; HDE, CDE, LOSO): every class
   is brought to the size N of the largest class of the split. Each sample of
   a class is kept once, and the N - n_c missing places are filled by samples
   of that class drawn uniformly WITH replacement. A class absent from the
   split stays absent (there is nothing to draw from). Pre-training does not
   resample (the paper balances only the micro-expression sets).
2. Corner crops (CDE, LOSO): each resampled record becomes 5 records: the full
   240x240 face and its four 224x224 corner crops (top-left, top-right,
   bottom-left, bottom-right) resized back to 240x240 (bilinear).
3. Random augmentation: every record of step 2 independently draws each
   augmentation the protocol enables, applied with probability p (0.5):
   colour shift (a uniform integer in [-max, max] added to every pixel,
   clipped to 0..255), rotation (a uniform angle in [-max, max] degrees,
   counter-clockwise as displayed, about the image centre, bilinear, borders
   reflected), smoothing (a box filter whose square window is a uniform
   integer in 2..max). So duplicates made by resampling differ from each
   other, and a record may get none of them.
   Order on one record: corner crop, rotation, smoothing, colour shift (the
   shift last, so the stored pixels are exactly the shifted, clipped ones).
4. The records are shuffled once (Caffe's Data layer reads in key order, so
   the LMDB order is the training order of every epoch).

Everything is drawn from numpy generators seeded by (seed, stream): one
stream each for the validation split, resampling, augmentation and the
shuffle, so the same seed gives the same records, in the same order, with the
same bytes. Test and validation splits are neither resampled nor augmented;
their faces are resized to the nets' 224x224 input (TEST_SIZE).
"""
import collections

import numpy as np

FACE_SIZE = 240      # faces are stored at 240x240; TRAIN crops 224 at random
CROP_SIZE = 224      # the nets' input (prototxt crop_size; tested to agree)
# The released prototxt resizes test images to 224 (no crop in TEST).
TEST_SIZE = CROP_SIZE
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
MIN_WINDOW = 2       # smallest smoothing window (1 would be no smoothing)

# Seed streams (the second entry of the SeedSequence entropy).
STREAM_SPLIT, STREAM_RESAMPLE, STREAM_AUGMENT, STREAM_SHUFFLE = 1, 2, 3, 4

# Bump when the drawing or the image operations change: a sidecar written by
# another version is not reused.
VERSION = 1


def rng(seed, stream):
    return np.random.default_rng([int(seed), stream])


def as_dict(augmentation):
    return collections.OrderedDict(augmentation._asdict())


# ------------------------------------------------------------------ planning

def resample(labels, seed):
    """Indices into `labels` such that every present class has the size of the
    largest: each index once (in input order), then the missing ones drawn with
    replacement per class (classes in sorted order)."""
    generator = rng(seed, STREAM_RESAMPLE)
    by_class = collections.OrderedDict()
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    target = max((len(v) for v in by_class.values()), default=0)
    out = []
    for label in sorted(by_class):
        members = by_class[label]
        out.extend(members)
        extra = target - len(members)
        if extra:
            out.extend(int(members[j]) for j in generator.integers(0, len(members), extra))
    return out


def draw(generator, augmentation):
    """The random augmentation of one record: {op: parameter} for the
    operations that fired. Always consumes the same amount of randomness, so
    one record's outcome does not shift the draws of the next."""
    a = augmentation
    u = generator.random(3)
    shift = int(generator.integers(-a.colour_shift, a.colour_shift + 1)) if a.colour_shift else 0
    angle = float(generator.uniform(-a.rotation, a.rotation)) if a.rotation else 0.0
    window = int(generator.integers(MIN_WINDOW, a.smoothing + 1)) if a.smoothing else 0
    ops = collections.OrderedDict()
    if a.rotation and u[1] < a.p:
        # rounded so that the sidecar's value is exactly the one applied
        ops["rotation"] = round(angle, 3)
    if a.smoothing and u[2] < a.p:
        ops["smoothing"] = window
    if a.colour_shift and u[0] < a.p:
        ops["colour_shift"] = shift
    return ops


def plan(labels, augmentation, resample_classes, seed):
    """The training records: a list of (source index, ops) in the final
    (shuffled) order, following the module docstring. `ops` may hold
    'corner', 'rotation', 'smoothing', 'colour_shift'."""
    sources = resample(labels, seed) if resample_classes else list(range(len(labels)))
    generator = rng(seed, STREAM_AUGMENT)
    corners = (None,) + CORNERS if augmentation.corner_crops else (None,)
    records = []
    for index in sources:
        for corner in corners:
            ops = collections.OrderedDict()
            if corner is not None:
                ops["corner"] = corner
            ops.update(draw(generator, augmentation))
            records.append((index, ops))
    order = rng(seed, STREAM_SHUFFLE).permutation(len(records))
    return [records[i] for i in order]


# ------------------------------------------------------------------ image ops

def corner_crop(image, corner, size=CROP_SIZE):
    """One size x size corner of the image, resized back to the image's size."""
    import cv2  # lazy: OpenCV loads slowly, only augmentation needs it
    h, w = image.shape
    top = 0 if corner.startswith("top") else h - size
    left = 0 if corner.endswith("left") else w - size
    crop = image[top:top + size, left:left + size]
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)


def rotate(image, degrees):
    import cv2  # lazy: OpenCV loads slowly, only augmentation needs it
    h, w = image.shape
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


def smooth(image, window):
    import cv2  # lazy: OpenCV loads slowly, only augmentation needs it
    return cv2.blur(image, (window, window))


_SHIFT_TABLES = {}


def colour_shift(image, shift):
    """image + shift, clipped to 0..255 (a lookup table: one pass, no int16 copy)."""
    import cv2  # lazy: OpenCV loads slowly, only augmentation needs it
    table = _SHIFT_TABLES.get(shift)
    if table is None:
        table = _SHIFT_TABLES[shift] = np.clip(np.arange(256) + int(shift), 0, 255).astype(
            np.uint8)
    return cv2.LUT(image, table)


def apply(image, ops):
    """The augmented copy of a uint8 gray image (order: module docstring)."""
    out = image
    if "corner" in ops:
        out = corner_crop(out, ops["corner"])
    if "rotation" in ops:
        out = rotate(out, ops["rotation"])
    if "smoothing" in ops:
        out = smooth(out, ops["smoothing"])
    if "colour_shift" in ops:
        out = colour_shift(out, ops["colour_shift"])
    return out


def resize_for_test(image, size=TEST_SIZE):
    import cv2  # lazy: OpenCV loads slowly, only augmentation needs it
    if image.shape == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
