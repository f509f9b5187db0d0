"""Region masks given per sample from outside (on demo data: where the
generator changed the apex frame), in the sample's frame pixels, carried into
its face crop with the crop's own transform (the box faces.csv records), and
the placebo region of a face: another class's AU regions on it.

The caller passes {(subject, clip): mask image file}; nothing here knows who
made the masks (the demo writes them, see demo/data/truth.py)."""
import numpy as np

from microattention.attention import regions
from microattention.errors import UserError
from microattention.faces.crop import CROP_SIZE, crop_matrix

BOX_COLUMNS = ("crop_cx", "crop_cy", "crop_size", "crop_angle")


def read_mask(path):
    """A boolean mask from an image file (non-zero = inside)."""
    import cv2  # lazy: OpenCV is optional outside the image (its tests skip without it)
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise UserError("region mask %s: missing or not an image OpenCV can read" % path)
    return image > 0


def crop_box(face_row, faces_csv):
    """(cx, cy, side, angle) of a faces.csv row: how its crop was cut."""
    try:
        return tuple(float(face_row[c]) for c in BOX_COLUMNS)
    except (KeyError, TypeError, ValueError):
        raise UserError("%s, sample %s: no crop box (%s); crop the faces again"
                        % (faces_csv, face_row.get("sample_id"), ", ".join(BOX_COLUMNS)))


def carried_mask(mask, box, size=CROP_SIZE):
    """A frame-pixel mask moved into the size x size crop of `box` by the
    crop's affine (faces.crop.crop_matrix): bilinear, then inside where at
    least half covered, so a thin wrinkle line survives a mild reduction."""
    import cv2  # lazy: OpenCV is optional outside the image (its tests skip without it)
    moved = cv2.warpAffine(np.asarray(mask, np.float32), crop_matrix(box, size),
                           (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return moved >= 0.5


def other_class(label):
    """The class whose AU regions are the placebo of `label`: the next class
    of regions.REGION_AUS's five (cyclic), a fixed choice."""
    classes = [c for c in regions.REGION_AUS if c != "positive"]
    if label not in classes:
        return None
    return classes[(classes.index(label) + 1) % len(classes)]


def placebo_mask(points, label, own, shape):
    """Another class's AU regions on this face, without the pixels of the
    face's own region `own`: where a map that finds the moving region should
    not be drawn more than anywhere else. None when nothing is left."""
    other = other_class(label)
    if other is None:
        return None, ()
    aus = regions.REGION_AUS[other]
    mask = regions.region_mask(points, aus, shape)
    if own is not None:
        mask &= ~own
    return (mask if mask.any() and not mask.all() else None), aus
