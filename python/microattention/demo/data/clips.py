"""One clip's frames: the frame layout and jitters, the intensity profiles
over the frames, the random choices of a clip (its own random stream), and
the rendering: AU moves warped onto a face, wrinkle lines, sensor noise."""
import math
from statistics import NormalDist

import numpy as np

from microattention.datasets.objective import parse_aus
from microattention.demo.data.furrows import darken, furrow_mask
from microattention.demo.data.geometry import (
    au_displacement, border_anchors, face_ring, pose_matrix, rotation, side_scales)
from microattention.demo.data.warp import SMALL_TRIANGLE, folds, piecewise_affine, triangulate
from microattention.faces.aus import CLASS_AUS
from microattention.faces.crop import transform

# How a clip is made. For every person, class and clip the 68 iBUG points of
# the action units of one objective class (CLASS_AUS) move by the AU_TABLE
# displacements (units: inter-ocular distance), scaled by an intensity profile
# over the frames (onset -> apex -> offset for CASME II, neutral -> peak for
# CK+); the image follows through a piecewise-affine warp over a Delaunay
# triangulation of the 68 points, a fixed ring of points around the face and
# frame-border anchors (the background stays put). The clips of a person take
# its views in turn: each photograph, then its mirror image (image flipped,
# points renumbered by MIRROR), all under the person's one subject id. Each
# clip gets a random head pose (similarity transform), intensity, brightness
# and per-frame sensor noise, all drawn from its own stream of --seed.
#
# Intensity: --magnitude-micro / --magnitude-macro multiply AU_TABLE (1 = a
# clear posed expression), with +-20% per clip and +-10% per AU. On a face
# turned aside the sideways moves of the far half shrink with its apparent
# width (side_scales); when a move would still fold the mesh (a triangle
# flipping or losing 80% of its area) the clip's intensities shrink in 10%
# steps. The intensities used are in OUT/demo-data.json.

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
# each set's own random streams (the rehearsal writes all seven layouts)
SET_CODES = {"casme2": 1, "ckplus": 2, "samm": 3, "smic": 4, "oulu": 5, "jaffe": 6, "mug": 7}


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
    import cv2  # lazy: keeps --help fast
    draws = np.frombuffer(rng.bytes(height * width), np.uint8).reshape(height, width)
    return cv2.LUT(draws, NOISE_LEVELS.reshape(1, 256))


def render_clip(face, aus, plan, profile, size, noise, rng, gray=False, furrows=0.0,
                magnitude=1.0, clean=None):
    """Frames (uint8) and their 68 points for one clip of one identity;
    `furrows` > 0 also darkens each AU's wrinkle lines (furrows.py) by
    furrows * frame intensity * the AU's intensity / `magnitude` (the clip's
    own intensity jitter, so no extra random draw). A list given as `clean`
    receives each frame before brightness and noise (the ground truth of
    where the clip changes, truth.py)."""
    import cv2  # lazy: keeps --help fast
    _, image, points = face
    width, height = size
    matrix = pose_matrix(points, plan["centre"], plan["iod"], plan["degrees"])
    base = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)
    if gray:
        base = cv2.cvtColor(base, cv2.COLOR_BGR2GRAY)
    neutral = transform(points, matrix)
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
            if furrows > 0 and t > 0:
                depths = {au: furrows * t * v / magnitude for au, v in plan["intensity"].items()}
                warps[t] = darken(warps[t], furrow_mask(dst[:68], aus, depths, plan["iod"],
                                                        rotation(plan["degrees"]), base.shape))
        warped = warps[t]
        if clean is not None:
            clean.append(warped)
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


def au_list(text):
    """The sorted AUs of an AU string such as "1+2+25"."""
    (found,) = parse_aus(text)
    return sorted(found)


def clip_rng(seed, dataset, identity, number, k):
    """Each clip draws from its own stream: clips do not depend on each other."""
    return np.random.default_rng([seed, SET_CODES[dataset], identity, number, k])


def class_aus(number, k, variants=None):
    """The AU set of clip k of a class: its combinations taken in turn, the
    first `variants` of them only when that is given."""
    combos = CLASS_AUS[number][:variants] if variants else CLASS_AUS[number]
    return au_list(combos[k % len(combos)])


