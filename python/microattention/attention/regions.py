"""The action-unit regions of a face (paper 4.4, Table 7): which landmarks
each AU moves, which AUs each class is scored on, an AU region as a mask of
the face, and the share of a map's mass inside it (score, lift).
"""
import collections

import numpy as np

from microattention.faces import aus

# An AU's region: for each side of the face, the convex hull of the AU's
# landmark points on that side plus its midline points, dilated by AU_MARGIN
# inter-ocular distances (eye-centre distance); the sides' hulls are joined.
# Splitting by side keeps e.g. AU12 at the two mouth corners instead of a
# hull across the whole mouth.
AU_MARGIN = 0.1
# The points each AU moves are those of the demo-data generator's table
# (aus.AU_TABLE, iBUG 0-based, both sides), so the fact lives in one
# place. Added here, for regions only: AUs the demo does not render, and skin
# an AU wrinkles or bulges without moving a landmark.
REGION_EXTRA = {
    4: (27,),                       # brow lowerer: the glabella between the brows
    6: (1, 15, 31, 35),             # cheek raiser: the cheeks below the lower lids
    9: (27, 28, 39, 42),            # nose wrinkler: the nose root between the eyes
    16: (55, 56, 57, 58, 59, 65, 66, 67),   # lower lip depressor: the lower lip
}
# The resulting table (AU -> points) is printed in every scores.md.
AU_LANDMARKS = {
    au: tuple(sorted(set(aus.AU_TABLE.get(au, {})) | set(REGION_EXTRA.get(au, ()))))
    for au in sorted(set(aus.AU_TABLE) | set(REGION_EXTRA))
}
N_POINTS = 68
MIRROR = aus.MIRROR

# The action units scored per class: Table 7 of the paper for disgust, sadness
# and anger; happiness and surprise from the objective-class table (Davison et
# al. 2018: I = AU6, AU12, 6+12, 6+7+12, 7+12; II = 1+2, AU5, AU25, 1+2+25,
# 25+26, 5+24). SMIC's positive is scored as happiness; SMIC's negative pools
# several classes and has no one AU set, so it is not scored.
REGION_AUS = collections.OrderedDict([
    ("happiness", (6, 12)),
    ("surprise", (1, 2, 5, 25, 26)),
    ("anger", (4, 5, 7, 23)),
    ("disgust", (9, 15, 16)),
    ("sadness", (1, 4, 15)),
    ("positive", (6, 12)),
])
UNSCORED = ("negative",)


def _sides(points, index_set):
    """Split AU points into (image-left, image-right, midline) by comparing
    each point with its mirror twin along the eye axis."""
    left_eye, right_eye = aus.eye_centres(points)
    axis = right_eye - left_eye
    proj = points @ axis
    left, right, mid = [], [], []
    for i in index_set:
        twin = MIRROR[i]
        if twin == i:
            mid.append(i)
        elif proj[i] < proj[twin]:
            left.append(i)
        else:
            right.append(i)
    return left, right, mid


def au_mask(points, au, shape, margin=AU_MARGIN):
    """Boolean (H, W) mask of one AU's region for 68 (x, y) pixel points."""
    import cv2  # lazy: OpenCV is optional outside the image (its tests skip without it)
    if au not in AU_LANDMARKS:
        raise ValueError("AU%d has no region (known: %s)" % (au, ", ".join(map(str, AU_LANDMARKS))))
    points = np.asarray(points, dtype=np.float64)
    left, right, mid = _sides(points, AU_LANDMARKS[au])
    left, right, mid = _sides(points, AU_LANDMARKS[au])
    groups = [g + mid for g in (left, right) if g] or [mid]
    hull = np.zeros(shape, np.uint8)
    for group in groups:
        # Pixel centres: fillConvexPoly rounds fixed-point coordinates (4 bits).
        pts = np.round(points[group] * 16).astype(np.int32)
        pts = cv2.convexHull(pts)
        cv2.fillConvexPoly(hull, pts, 1, lineType=cv2.LINE_8, shift=4)
    radius = margin * aus.interocular(points)
    # Distance of every pixel to the hull; the hull dilated by the margin.
    distance = cv2.distanceTransform((1 - hull).astype(np.uint8), cv2.DIST_L2, 5)
    return distance <= radius


def region_mask(points, aus, shape, margin=AU_MARGIN):
    """Union of the regions of several AUs."""
    mask = np.zeros(shape, bool)
    for au in aus:
        mask |= au_mask(points, au, shape, margin)
    return mask


# The face, the domain every region is compared within: the hull of the 68
# points and of the brows raised by this many inter-ocular distances (the
# forehead, where AU1/AU2 wrinkle; the demo draws its lines up to 0.44 above
# the brows). Comparing within the face asks "which part of the face", not
# "face or background", which any face-centred map would answer.
FOREHEAD = 0.6


def face_mask(points, shape, forehead=FOREHEAD):
    """Boolean (H, W) mask of the face for 68 (x, y) pixel points."""
    import cv2  # lazy: OpenCV is optional outside the image (its tests skip without it)
    points = np.asarray(points, dtype=np.float64)
    left, right = aus.eye_centres(points)
    axis = (right - left) / np.linalg.norm(right - left)
    up = np.array([axis[1], -axis[0]])          # image y points down
    brows = points[17:27] + up * forehead * aus.interocular(points)
    pts = np.round(np.vstack([points, brows]) * 16).astype(np.int32)
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(pts), 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def region_score(map_, mask):
    """Share of a non-negative map's mass inside a boolean mask of its shape
    (nan for a map without mass)."""
    map_ = np.asarray(map_, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if map_.shape != mask.shape:
        raise ValueError("map %s and mask %s differ in shape" % (map_.shape, mask.shape))
    if map_.min() < 0:
        raise ValueError("a map with negative values has no mass share")
    total = map_.sum()
    if total <= 0:
        return float("nan")
    return float(map_[mask].sum() / total)


def lift(score, area):
    """A map's score over the score of a uniform map (the regions' area
    share): 1 = no preference, 1 / area = all mass inside the regions."""
    if not 0 < area <= 1:
        raise ValueError("region area share %r is not in (0, 1]" % (area,))
    return score / area
