"""Active appearance models for the faces stage: training a holistic gray AAM
(menpofit) from 68-point landmarked images, fitting it from dlib's landmarks,
and the leave-one-out measurement of what the fit adds.

The paper locates and segments the face "with AAM" (Cootes et al. 2001). An
AAM needs a starting shape near the face; dlib's 68-point predictor gives one,
and the AAM then refines it. menpofit's pretrained models are downloaded at run
time, so the project trains its own (from menpo's four builtin photographs, a
folder of iBUG/300-W .pts/.ljson images, or the user's own index).
"""
import hashlib
import os
import pickle
import warnings

import numpy as np

from microattention import files
from microattention.faces.aus import MIRROR, eye_centres
from microattention.errors import UserError

N_POINTS = 68
BUILTIN_PHOTOS = ("breakingbad", "einstein", "lenna", "takeo")

# Point order of the mirror image of a 68-point iBUG shape (left/right swapped):
# aus.MIRROR, as an index array.
MIRROR_68 = np.array(MIRROR)

# Training and fitting settings. One scale, a small reference shape (diagonal
# 100 px), every 4th pixel of it and 3 iterations, because the fit runs on every
# sample and starts close (dlib's points): on faces the model has seen this
# converges as well as 2 scales x 8 iterations at a fraction of the time
# (tools/bench_faces.py prints the trade-off; `faces evaluate` the accuracy).
TRAIN_DEFAULTS = {"diagonal": 100, "scales": (1.0,), "crop_margin": 0.2,
                  "features": "no_op"}
FIT_DEFAULTS = {"max_iters": 3, "algorithm": "wiberg", "n_shape": None,
                "n_appearance": None, "sampling": 4}
# Fits that move the points further than this (mean, in inter-ocular
# distances) from dlib's start are taken as diverged: dlib's points are kept.
DIVERGED_IOD = 0.25
# A fit whose appearance residual (RMS, gray levels) is above this did not find
# a face the model knows: on faces seen in training the residual is 2-14, on
# unseen faces (leave-one-out on menpo's photographs) 30-60.
RESIDUAL_LIMIT = 25.0


def inter_ocular(points):
    # not aus.interocular (np.hypot), which differs from this in the last bit
    # on about one shape in six: landmark errors and the faces stage's checks
    # keep their values
    a, b = eye_centres(points)
    return float(np.linalg.norm(a - b))


def landmark_error(points, truth):
    """Mean point-to-point distance over the inter-ocular distance of `truth`
    (eye centres), the usual normalised error of 68-point landmarks."""
    return float(np.linalg.norm(points - truth, axis=1).mean() / inter_ocular(truth))


def mirror(gray, points):
    """The mirror image of an image (gray or colour) and its 68 points in (x, y),
    renumbered in iBUG order (the image-left eye of the result is the flipped
    image-right eye of the original)."""
    width = gray.shape[1]
    flipped = gray[:, ::-1].copy()
    pts = points[MIRROR_68].copy()
    pts[:, 0] = width - 1 - pts[:, 0]
    return flipped, pts


def _menpo_image(gray, points=None):
    from menpo.image import Image  # lazy: menpo is heavy, only AAM work needs it
    from menpo.shape import PointCloud  # lazy: menpo loads slowly, only the AAM needs it
    image = Image(gray.astype(np.float32)[None] / 255.0, copy=False)
    if points is not None:
        image.landmarks["PTS"] = PointCloud(points[:, ::-1].astype(np.float64))
    return image


def crop_around(gray, points, margin):
    """Cut the landmarks' bounding box plus `margin` of its size on each side
    (clipped to the image); returns the cut and its (x0, y0) offset."""
    lo = points.min(axis=0)
    hi = points.max(axis=0)
    pad = (hi - lo) * margin
    x0, y0 = np.maximum(np.floor(lo - pad), 0).astype(int)
    x1 = int(min(np.ceil(hi[0] + pad[0]) + 1, gray.shape[1]))
    y1 = int(min(np.ceil(hi[1] + pad[1]) + 1, gray.shape[0]))
    return gray[y0:y1, x0:x1], np.array([x0, y0], dtype=np.float64)


def builtin_photos():
    """menpo's four landmarked photographs as (name, gray uint8, 68 (x, y) points)."""
    import menpo.io as mio  # lazy: menpo is heavy, only AAM work needs it
    loaders = {"breakingbad": "breakingbad_jpg", "einstein": "einstein_jpg",
               "lenna": "lenna_png", "takeo": "takeo_ppm"}
    out = []
    for name in BUILTIN_PHOTOS:
        image = getattr(mio.import_builtin_asset, loaders[name])()
        gray = image.as_greyscale(mode="luminosity") if image.n_channels == 3 else image
        pixels = np.clip(gray.pixels[0] * 255.0 + 0.5, 0, 255).astype(np.uint8)
        group = image.landmarks[list(image.landmarks.keys())[0]]  # PTS, or LJSON's name
        points = group.points[:, ::-1].astype(np.float64)
        out.append((name, pixels, points))
    return out


def read_landmarked_folder(folder):
    """Images with a 68-point .pts or .ljson file of the same stem (iBUG/300-W)
    as (name, gray uint8, (x, y) points), sorted by name."""
    import cv2  # lazy: cv2 and menpo are slow to import, only AAM work needs them
    import menpo.io as mio  # lazy: menpo loads slowly, only the AAM needs it
    if not os.path.isdir(folder):
        raise UserError("--images %s is not a folder" % folder)
    out = []
    for name in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(name)
        if ext.lower() not in (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff"):
            continue
        marks = [os.path.join(folder, stem + e) for e in (".pts", ".ljson")]
        marks = [m for m in marks if os.path.isfile(m)]
        if not marks:
            continue
        path = os.path.join(folder, name)
        gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise UserError("cannot read image %s" % path)
        try:
            group = mio.import_landmark_file(marks[0])
        except Exception as exc:  # menpo raises several types for a broken file
            raise UserError("cannot read landmarks %s: %s" % (marks[0], exc))
        cloud = group if not hasattr(group, "keys") else group[list(group.keys())[0]]
        points = cloud.points[:, ::-1].astype(np.float64)
        if points.shape != (N_POINTS, 2):
            raise UserError("%s has %d points; the AAM needs the 68-point iBUG markup"
                            % (marks[0], len(points)))
        out.append((name, gray, points))
    if len(out) < 2:
        raise UserError("--images %s holds %d image(s) with a .pts/.ljson of the same name; "
                        "an AAM needs at least 2" % (folder, len(out)))
    return out


def train(samples, mirrored=True, settings=None):
    """A holistic gray AAM from (name, gray, points) samples. Mirrored copies
    double the few training faces (the model sees both head turns)."""
    from menpofit.aam import HolisticAAM  # lazy: menpofit is heavy, only AAM work needs it
    import menpo.feature  # lazy: menpo loads slowly, only the AAM needs it
    settings = dict(TRAIN_DEFAULTS, **(settings or {}))
    images = []
    for _, gray, points in samples:
        variants = [(gray, points)]
        if mirrored:
            variants.append(mirror(gray, points))
        for g, p in variants:
            cut, offset = crop_around(g, p, settings["crop_margin"])
            images.append(_menpo_image(cut, p - offset))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aam = HolisticAAM(images, group="PTS", holistic_features=getattr(menpo.feature, settings["features"]),
                          diagonal=settings["diagonal"], scales=tuple(settings["scales"]),
                          verbose=False)
    return {"format": 1, "aam": aam, "trained_on": [s[0] for s in samples],
            "mirrored": bool(mirrored), "settings": settings}


def save(model, path):
    """Pickle the model atomically (menpo.io.import_pickle reads it too)."""
    files.atomic_write(path, pickle.dumps(model, protocol=4))


def load(path):
    if not os.path.isfile(path):
        raise UserError("--aam %s: no such file" % path)
    try:
        with open(path, "rb") as handle:
            model = pickle.load(handle)
    except Exception as exc:  # a truncated or foreign pickle
        raise UserError("--aam %s is not a model written by 'faces train-aam' (%s)" % (path, exc))
    if not isinstance(model, dict) or model.get("format") != 1 or "aam" not in model:
        raise UserError("--aam %s is not a model written by 'faces train-aam'" % path)
    return model


def file_digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha1(handle.read()).hexdigest()[:12]


def _sampling(step):
    # menpofit accepts numpy integers only.
    return None if step is None else np.int64(step)


class Fitter:
    """Fits a trained AAM from an initial 68-point shape (dlib's)."""

    def __init__(self, model, settings=None):
        from menpofit.aam import LucasKanadeAAMFitter  # lazy: menpofit is heavy
        # lazy: menpofit loads slowly, only the AAM needs it
        from menpofit.aam.algorithm.lk import (WibergInverseCompositional,
                                               ProjectOutInverseCompositional)
        self.settings = dict(FIT_DEFAULTS, **(settings or {}))
        algorithm = {"wiberg": WibergInverseCompositional,
                     "project-out": ProjectOutInverseCompositional}[self.settings["algorithm"]]
        self.model = model
        aam = model["aam"]
        self.fitter = LucasKanadeAAMFitter(aam, lk_algorithm_cls=algorithm,
                                           n_shape=self.settings["n_shape"],
                                           n_appearance=self.settings["n_appearance"],
                                           sampling=_sampling(self.settings["sampling"]))
        # Pixels the cost sums over (every `sampling`-th of the reference frame).
        step = self.settings["sampling"] or 1
        self.n_pixels = [len(range(0, m.mean().n_true_pixels(), step))
                         for m in aam.appearance_models]
        self.margin = model["settings"]["crop_margin"]

    def fit(self, gray, init):
        """(points, error, rejected): the fitted (x, y) points in `gray`'s
        coordinates, the final appearance error (RMS residual in gray levels
        0..255 over the model's pixels) and why the fit should not be used
        ('' when it is fine)."""
        cut, offset = crop_around(gray, init, self.margin)
        image = _menpo_image(cut)
        from menpo.shape import PointCloud  # lazy: menpo is heavy
        start = PointCloud((init - offset)[:, ::-1].astype(np.float64))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = self.fitter.fit_from_shape(image, start,
                                                max_iters=self.settings["max_iters"],
                                                return_costs=True)
        points = result.final_shape.points[:, ::-1] + offset
        costs = result.costs
        # The last cost is the squared residual norm at the finest scale.
        error = (float(np.sqrt(max(costs[-1], 0.0) / self.n_pixels[-1]) * 255.0)
                 if costs else float("nan"))
        moved = float(np.linalg.norm(points - init, axis=1).mean()
                      / max(inter_ocular(init), 1e-6))
        if not np.all(np.isfinite(points)) or moved > DIVERGED_IOD:
            return points, error, "AAM fit moved %.2f inter-ocular distances from dlib's " \
                                  "points (limit %.2f)" % (moved, DIVERGED_IOD)
        if not error <= RESIDUAL_LIMIT:
            return points, error, "AAM residual %.1f gray levels above %.1f: the model does " \
                                  "not explain this face" % (error, RESIDUAL_LIMIT)
        return points, error, ""


def leave_one_out(samples, detect_landmarks, fit_settings=None, mirrored=True,
                  train_settings=None):
    """For each sample: train on the others, start from dlib's landmarks on it
    and fit. Returns dicts (name, dlib, aam, used, residual, rejected): errors
    normalised by the hand landmarks' inter-ocular distance; `aam` is the raw
    fit, `used` what the faces command keeps (dlib's points when the fit is
    rejected)."""
    rows = []
    for i, (name, gray, truth) in enumerate(samples):
        init = detect_landmarks(gray, truth)
        if init is None:
            rows.append({"name": name, "dlib": float("nan"), "aam": float("nan"),
                         "used": float("nan"), "residual": float("nan"),
                         "rejected": "no face found"})
            continue
        model = train([s for j, s in enumerate(samples) if j != i], mirrored=mirrored,
                      settings=train_settings)
        fitted, residual, rejected = Fitter(model, fit_settings).fit(gray, init)
        rows.append({"name": name, "dlib": landmark_error(init, truth),
                     "aam": landmark_error(fitted, truth),
                     "used": landmark_error(init if rejected else fitted, truth),
                     "residual": residual, "rejected": rejected})
    return rows
