"""Find the face of a frame: dlib's HOG detector (a ladder of cheaper to
costlier attempts), dlib's 68 landmarks, the optional AAM fit from them, and
the quality flag of the result."""
import os

import numpy as np

from microattention.errors import UserError
from microattention.faces import aam

PREDICTOR = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"
# Detection runs on a copy whose longer side is at most this many pixels
# (faces in the micro-expression sets fill a large part of the frame); when
# nothing is found there, dlib's upsampling and then the full frame are tried.
DETECT_SIDE = 320
# Quality: eye centres closer than this fraction of the detector box width, or
# a rejected AAM fit (aam.RESIDUAL_LIMIT, aam.DIVERGED_IOD), flag the crop 'low'.
EYES_MIN_FRACTION = 0.2
LOW_THRESHOLD = -0.5
NO_FACE = "no face found by the HOG detector (also upsampled, at full size and at score %.1f)" \
    % LOW_THRESHOLD

_LOADED = {}


class Locator:
    """dlib's HOG detector and 68-point predictor, plus an optional AAM fitter.
    One per process (dlib objects do not pickle)."""

    def __init__(self, model=None, fit_settings=None):
        import dlib  # lazy: dlib is heavy and only the crop/AAM actions need it
        if not os.path.isfile(PREDICTOR):
            raise UserError("dlib's 68-point model %s is missing (Debian package libdlib-data)"
                            % PREDICTOR)
        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        if "predictor" not in _LOADED:  # 95 MB: load once per process
            _LOADED["predictor"] = dlib.shape_predictor(PREDICTOR)
        self.predictor = _LOADED["predictor"]
        self.fitter = aam.Fitter(model, fit_settings) if model is not None else None

    def _ladder(self, gray):
        """(scale, dlib rectangles, scores) of the first attempt that finds a
        face, or None. Cheap attempts first: a small copy, then dlib's
        upsampling, then the full frame, then a lower score threshold (turned
        and tilted heads score below dlib's default 0)."""
        import cv2  # lazy: keeps --help fast
        h, w = gray.shape
        scale = min(1.0, DETECT_SIDE / float(max(h, w)))
        attempts = [(scale, 0, 0.0), (scale, 1, 0.0)]
        if scale < 1.0:
            attempts += [(1.0, 0, 0.0)]
        attempts += [(scale, 1, LOW_THRESHOLD)]
        cache = {}
        for s, upsample, threshold in attempts:
            if s not in cache:
                cache[s] = gray if s == 1.0 else cv2.resize(
                    gray, (max(1, round(w * s)), max(1, round(h * s))),
                    interpolation=cv2.INTER_AREA)
            boxes, scores, _ = self.detector.run(cache[s], upsample, threshold)
            if len(boxes):
                return s, boxes, scores
        return None

    @staticmethod
    def _frame_box(rect, s):
        return tuple(float(v) / s for v in (rect.left(), rect.top(), rect.right(), rect.bottom()))

    def detect_all(self, gray):
        """Every face of the first attempt of the ladder that finds any, as
        [((left, top, right, bottom) in frame pixels, score)]; [] when none."""
        found = self._ladder(gray)
        if found is None:
            return []
        s, boxes, scores = found
        return [(self._frame_box(b, s), float(score)) for b, score in zip(boxes, scores)]

    def detect(self, gray):
        """The largest face of detect_all (dlib's box area, then score) as
        ((left, top, right, bottom) in frame pixels, score), or None."""
        found = self._ladder(gray)
        if found is None:
            return None
        s, boxes, scores = found
        best = max(range(len(boxes)), key=lambda i: (boxes[i].area(), scores[i]))
        return self._frame_box(boxes[best], s), float(scores[best])

    def landmarks(self, gray, box):
        rect = self.dlib.rectangle(*[int(round(v)) for v in box])
        shape = self.predictor(gray, rect)
        return np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], np.float64)

    def locate(self, gray):
        """dict with box, score, dlib points, fitted points, fit error, used;
        or None when no face is found."""
        found = self.detect(gray)
        if found is None:
            return None
        box, score = found
        init = self.landmarks(gray, box)
        out = {"box": box, "score": score, "dlib": init, "points": init,
               "fit_error": float("nan"), "used": "dlib", "note": ""}
        if self.fitter is not None:
            points, error, rejected = self.fitter.fit(gray, init)
            out["fit_error"] = error
            if rejected:
                out["note"] = rejected + "; dlib's points kept"
            else:
                out["points"], out["used"] = points, "aam"
        return out


def quality(located):
    """'low' when the eye centres are implausibly close for the face box or
    the AAM fit was rejected (its residual or its move from dlib too large)."""
    box = located["box"]
    width = max(box[2] - box[0], 1.0)
    if aam.inter_ocular(located["points"]) < EYES_MIN_FRACTION * width:
        return "low", "eye centres closer than %.2f of the face box" % EYES_MIN_FRACTION
    if located["note"]:
        return "low", ""
    return "ok", ""
