"""Piecewise-affine warp of an image over a triangulated mesh of points, and
the check that a move would fold the mesh."""
import math

import numpy as np


def triangulate(points):
    """Delaunay triangles (indices) of the points."""
    from scipy.spatial import Delaunay  # lazy: scipy is slow to import
    return Delaunay(points).simplices.astype(np.int64)


def triangle_maps(src, dst):
    """(T, 3, 2) coefficients taking [x, y, 1] in each dst triangle (T, 3, 2)
    to the matching point of the src triangle: closed form, no solver."""
    d1, d2 = dst[:, 1] - dst[:, 0], dst[:, 2] - dst[:, 0]
    s1, s2 = src[:, 1] - src[:, 0], src[:, 2] - src[:, 0]
    det = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    det = np.where(np.abs(det) < 1e-12, 1e-12, det)   # a degenerate triangle
    # inverse of [d1 d2] (columns), times [s1 s2]
    inv = np.stack([np.stack([d2[:, 1], -d2[:, 0]], 1),
                    np.stack([-d1[:, 1], d1[:, 0]], 1)], 1) / det[:, None, None]
    linear = np.stack([s1, s2], 2) @ inv                  # (T, 2, 2): src = L dst + b
    shift = src[:, 0] - np.einsum("tij,tj->ti", linear, dst[:, 0])
    return np.concatenate([linear.transpose(0, 2, 1), shift[:, None, :]], axis=1)


MIN_AREA_RATIO = 0.2
SMALL_TRIANGLE = 0.005      # of the squared inter-ocular distance


def folds(src, dst, triangles, smallest=0.0):
    """True when some triangle of the mesh flips or shrinks below
    MIN_AREA_RATIO of its area from src to dst (the warp would tear);
    triangles under `smallest` square pixels (a few pixels between closed
    lips or eyelids) are not counted."""
    def areas(points):
        a, b, c = points[triangles[:, 0]], points[triangles[:, 1]], points[triangles[:, 2]]
        return ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1])
                - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
    before, after = areas(src), areas(dst)
    counted = np.abs(before) / 2 >= smallest
    ratio = after[counted] / before[counted]
    return bool(np.any(ratio < MIN_AREA_RATIO))


def piecewise_affine(image, src, dst, triangles):
    """Warp `image` so that what lies at the points `src` moves to `dst`, each
    triangle by its own affine map; pixels in triangles none of whose corners
    move are copied unchanged. Points are (x, y)."""
    import cv2  # lazy: keeps --help fast
    out = image.copy()
    moves = np.abs(dst - src).max(axis=1) > 1e-9
    tris = triangles[moves[triangles].any(axis=1)]
    if not len(tris):
        return out
    height, width = image.shape[:2]
    corners = dst[tris]
    x0 = max(int(math.floor(corners[..., 0].min())) - 1, 0)
    y0 = max(int(math.floor(corners[..., 1].min())) - 1, 0)
    x1 = min(int(math.ceil(corners[..., 0].max())) + 2, width)
    y1 = min(int(math.ceil(corners[..., 1].max())) + 2, height)
    # Label image: 0 outside the moving triangles, n inside the n-th one.
    # uint8 labels let cv2.LUT look up the coefficients; a mesh has ~130
    # triangles, so more than 255 moving ones never happen (checked).
    if len(tris) > 255:
        raise ValueError("more than 255 moving triangles")
    labels = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shift = 4
    polys = np.round((corners - (x0, y0)) * (1 << shift)).astype(np.int32)
    for number, poly in enumerate(polys, start=1):
        cv2.fillConvexPoly(labels, poly, number, lineType=cv2.LINE_8, shift=shift)
    # Per label: [x, y, 1] @ coef -> source (x, y); label 0 is the identity.
    coef = np.zeros((256, 3, 2), np.float32)
    coef[0] = [[1, 0], [0, 1], [0, 0]]
    coef[1:len(tris) + 1] = triangle_maps(src[tris], corners)
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]

    def plane(i, j):
        return cv2.LUT(labels, np.ascontiguousarray(coef[:, i, j]).reshape(1, 256))

    map_x = xs * plane(0, 0) + ys * plane(1, 0) + plane(2, 0)
    map_y = xs * plane(0, 1) + ys * plane(1, 1) + plane(2, 1)
    out[y0:y1, x0:x1] = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT_101)
    return out
