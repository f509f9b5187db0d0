"""Crop geometry: the level square box around a face's landmarks (forehead
and margin added), one box per clip, the frame->crop affine, cutting the
240x240 gray crop, and placing a landmarked photo in a frame."""
import math

import numpy as np

from microattention import augment
from microattention.faces.aus import eye_centres

CROP_SIZE = augment.FACE_SIZE   # the stored face; the nets crop or resize it
# Crop geometry, as fractions of the level landmark box: forehead added above
# the brows (AU1/AU2 wrinkles lie there), margin on every side of the square.
FOREHEAD = 0.25
MARGIN = 0.06


def crop_box(points):
    """(cx, cy, side, angle) of the crop in frame pixels: angle levels the eye
    centres; the square covers the level landmark box, the forehead and a margin."""
    left, right = eye_centres(points)
    angle = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
    mid = (left + right) / 2.0
    rot = rotation(-angle)
    level = (points - mid) @ rot.T
    x0, y0 = level.min(axis=0)
    x1, y1 = level.max(axis=0)
    y0 -= FOREHEAD * (y1 - y0)
    side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * MARGIN)
    centre = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0]) @ rotation(angle).T + mid
    return float(centre[0]), float(centre[1]), float(side), float(angle)


def shared_box(boxes):
    """One box for the frames of a clip: the median of each parameter."""
    arr = np.array(boxes, dtype=np.float64)
    return tuple(float(v) for v in np.median(arr, axis=0))


def rotation(degrees):
    """The 2x2 matrix that rotates (x, y) column vectors by `degrees`."""
    t = math.radians(degrees)
    return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


def crop_matrix(box, size=CROP_SIZE):
    """2x3 affine from frame pixels to crop pixels (pixel centres at integers)."""
    cx, cy, side, angle = box
    s = size / side
    rot = rotation(-angle) * s
    centre = (size - 1) / 2.0
    shift = np.array([centre, centre]) - rot @ np.array([cx, cy])
    return np.hstack([rot, shift[:, None]])


def cut(gray, box, size=CROP_SIZE):
    """The size x size gray crop of `box` and the frame->crop matrix. Large
    reductions go through an area-averaged resize first (no aliasing)."""
    import cv2  # lazy: keeps --help fast
    matrix = crop_matrix(box, size)
    scale = size / box[2]
    source = gray
    pre = np.eye(3)
    if scale < 0.7:
        f = scale * 1.25
        source = cv2.resize(gray, (max(1, round(gray.shape[1] * f)),
                                   max(1, round(gray.shape[0] * f))),
                            interpolation=cv2.INTER_AREA)
        fx = source.shape[1] / gray.shape[1]
        fy = source.shape[0] / gray.shape[0]
        pre = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1]])
    warp = (np.vstack([matrix, [0, 0, 1]]) @ np.linalg.inv(pre))[:2]
    out = cv2.warpAffine(source, warp, (size, size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return out, matrix


def transform(points, matrix):
    """Points (x, y) moved by a 2x3 affine matrix."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def compose_frame(gray, points, size, iod, angle, centre):
    """Place a landmarked photo in a (width, height) frame: its face scaled to
    an inter-ocular distance of `iod` pixels, rotated by `angle` degrees,
    centred at `centre`, the rest plain gray. Returns the frame and
    the moved points. (Generated test, benchmark and contact-sheet frames.)"""
    import cv2  # lazy: keeps --help fast
    left, right = eye_centres(points)
    face = points.mean(axis=0)
    scale = iod / np.linalg.norm(right - left)
    matrix = cv2.getRotationMatrix2D((float(face[0]), float(face[1])), angle, scale)
    matrix[:, 2] += np.asarray(centre, np.float64) - face
    # A plain surround: a reflected one would repeat the face.
    frame = cv2.warpAffine(gray, matrix, tuple(size), flags=cv2.INTER_AREA if scale < 1
                           else cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=int(np.median(gray)))
    return frame, transform(points, matrix)
