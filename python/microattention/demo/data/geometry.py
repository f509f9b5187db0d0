"""Geometry of a generated face: AU moves in pixels, head pose and the fixed
points that keep the warp to the face (rotations are faces' own; mirror
images are aam.mirror)."""
import math

import numpy as np

from microattention.faces.aus import AU_TABLE, LEFT_SIDE, eye_centres
from microattention.faces.crop import rotation


def au_displacement(aus, intensity=1.0, sides=(1.0, 1.0)):
    """(68, 2) displacement in inter-ocular distances (face upright) of an AU
    set; `intensity` is one factor or {au: factor}; `sides` scales the
    sideways (dx) moves of the image-left and image-right halves."""
    moved = np.zeros((68, 2))
    for au in aus:
        if au not in AU_TABLE:
            raise ValueError("AU%d is not in the AU-to-landmark table" % au)
        factor = intensity[au] if isinstance(intensity, dict) else intensity
        for point, (dx, dy) in AU_TABLE[au].items():
            side = sides[0] if point in LEFT_SIDE else sides[1]
            moved[point] += factor * np.array([dx * side, dy])
    return moved


def side_scales(points):
    """How wide each half of the face looks relative to the mean half width
    (at most 1): a face turned aside shows a narrow far half, where sideways
    moves of a frontal face would cross the cheek contour."""
    left, right = eye_centres(points)
    upright = (points - (left + right) / 2) @ rotation(
        -math.degrees(math.atan2(*(right - left)[::-1]))).T
    middle = upright[[27, 28, 29, 30, 33, 51, 57, 8], 0].mean()
    widths = np.array([middle - upright[0:5, 0].mean(), upright[12:17, 0].mean() - middle])
    return tuple(float(v) for v in np.clip(widths / widths.mean(), 0.05, 1.0))


def pose_matrix(points, centre, iod, degrees):
    """2x3 similarity taking a face (points, x y) to eye midpoint `centre`,
    eye distance `iod` and eye line at `degrees`."""
    left, right = eye_centres(points)
    dx, dy = right - left
    scale = iod / math.hypot(dx, dy)
    linear = scale * rotation(degrees - math.degrees(math.atan2(dy, dx)))
    shift = np.asarray(centre) - linear @ ((left + right) / 2)
    return np.hstack([linear, shift[:, None]])


def border_anchors(width, height):
    """Fixed points on the frame border: corners and edge quarters."""
    xs = np.linspace(0, width - 1, 5)
    ys = np.linspace(0, height - 1, 5)
    top = [(x, 0) for x in xs] + [(x, height - 1) for x in xs]
    sides = [(0, y) for y in ys[1:-1]] + [(width - 1, y) for y in ys[1:-1]]
    return np.array(top + sides, dtype=float)


RING_POINTS = 32
RING_MARGIN = 1.6


def face_ring(points, width, height):
    """Fixed points on an ellipse around the face, RING_MARGIN times the size
    of the landmarks' box: the warp stays inside it (the mesh beyond it does
    not move), which keeps every frame's warp to the face region."""
    low, high = points.min(axis=0), points.max(axis=0)
    centre, half = (low + high) / 2, (high - low) / 2 * RING_MARGIN
    angles = np.arange(RING_POINTS) * (2 * math.pi / RING_POINTS)
    ring = centre + half * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return np.clip(ring, 0, [width - 1, height - 1])
