"""One clip through an exported model (predict): its face and the clip's
crop box (for spotting), the apex frame (given or spotted), the apex face
cut with its own box as the faces stage cuts a training apex frame, through
the net, and the prediction document with its pictures, all in memory.
"""
import collections
import os
import time

import numpy as np

from microattention.deploy import spotting
from microattention.deploy.clips import POSITIONS
from microattention.deploy.locate import clip_box, landmarks, locate_clip
from microattention.deploy.pictures import CURVE_PNG, OVERLAY_PNG, curve_png, overlay_png
from microattention.errors import UserError
from microattention.faces.crop import crop_box, cut, transform
from microattention.faces.locator import NO_FACE

FORMAT = "microattention-prediction/1"


def _position(numbers, value, option, clip):
    if value is None:
        return None
    if value not in numbers:
        raise UserError("%s %d is outside the clip %s: its frames are %d to %d"
                        % (option, value, clip.path, numbers[0], numbers[-1]))
    return numbers.index(value)


def predict_clip(clip, model, locator, args, progress=True):
    """Everything of one clip in memory: (prediction document, {file: bytes})."""
    if args.face is not None and args.face < 1:
        raise UserError("--face %d: faces are numbered from 1 (from the left)" % args.face)
    started = time.time()
    numbers, boxes, most, kept = locate_clip(clip, locator, args.face, progress)
    if not numbers:
        raise UserError("%s: no frame could be read" % clip.path)
    # the options that refer to frames are checked before the slow part
    onset = _position(numbers, args.onset, "--onset", clip)
    apex_given = _position(numbers, args.apex, "--apex", clip)
    if onset is not None and apex_given is not None and apex_given < onset:
        raise UserError("--apex %d lies before --onset %d" % (args.apex, args.onset))
    found = sum(b is not None for b in boxes)
    if not found:
        if args.face is not None and most:
            raise UserError("%s: no frame shows %d faces (at most %d); choose --face 1 to %d"
                            % (clip.path, args.face, most, most))
        raise UserError("no face found in any of the %d frame(s) of %s (%s)"
                        % (len(numbers), clip.path, NO_FACE))
    box, used, box_frames = clip_box(locator, kept)
    notes = clip_notes(clip, args, most, found, len(numbers))
    onset_at = onset or 0
    apex, curve, smoothed, width, method = spot_apex(clip, box, numbers, onset_at, apex_given)

    face, points, apex_box, apex_landmarks = apex_face(
        locator, clip.frame(numbers[apex]), boxes[apex], box, notes)
    prob, maps = model.predict(face)
    best = int(np.argmax(prob))
    doc = collections.OrderedDict([
        ("format", FORMAT),
        ("clip", clip_part(clip, numbers)),
        ("class", model.classes[best]),
        ("probabilities", collections.OrderedDict(
            (c, round(float(p), 6)) for c, p in zip(model.classes, prob))),
        ("apex_frame", numbers[apex]),
        ("onset_frame", numbers[onset_at]),
        ("method", method),
        ("smoothing_window", width),
        ("curve", curve_part(numbers, curve, smoothed)),
        ("model", model_part(model)),
        ("face", face_part((apex_box, apex_landmarks), box, found, most, args,
                           (box_frames, used))),
        ("notes", notes),
        ("request", request(args, model)),
        ("seconds", round(time.time() - started, 2)),
    ])
    pictures = {CURVE_PNG: curve_png(doc), OVERLAY_PNG: overlay_png(doc, model, face, points,
                                                                    maps)}
    return doc, pictures


def apex_face(locator, gray, chosen, box, notes):
    """The apex face cut as the faces stage cuts a training apex frame: with
    its own box, from its own landmarks (chosen: its face box; None: no face,
    then the clip's box, and a note). Returns (240x240 face, landmarks in
    crop pixels or None, the box used, which landmarks or None)."""
    if chosen is None:
        notes.append("the apex frame shows no face (or not the chosen one): it is cut with "
                     "the clip's box, not its own as training crops are")
        return cut(gray, box)[0], None, box, None
    points, how = landmarks(locator, gray, chosen)
    own = crop_box(points)
    face, matrix = cut(gray, own)
    return face, transform(points, matrix), own, how


def clip_notes(clip, args, most, found, frames):
    """The prediction's notes: several faces, frames numbered by position,
    frames without the face."""
    notes = []
    if most > 1:
        notes.append("up to %d faces in a frame: %s used; choose another with --face N "
                     "(numbered from the left)" % (most, "the largest" if args.face is None
                                                   else "face %d from the left" % args.face))
    if clip.numbering == POSITIONS:
        notes.append("frames are numbered by position from 1 in name order (the file names "
                     "carry no frame numbers), also in --apex and --onset")
    if found < frames:
        notes.append("%d of %d frames show no%s face; the clip's one crop box is used for "
                     "them too" % (frames - found, frames,
                                   "" if args.face is None else " chosen"))
    return notes


def spot_apex(clip, box, numbers, onset_at, apex_given):
    """Pass 2: every frame's crop, reduced, for spotting. Returns (apex
    position, difference curve, smoothed curve, window, method)."""
    small = []
    for _, gray in clip.frames():
        small.append(spotting.reduce(cut(gray, box)[0]))
    if len(small) != len(numbers):
        raise UserError("%s gave %d frames, then %d" % (clip.path, len(numbers), len(small)))
    if apex_given is not None:
        curve = spotting.difference_curve(small, onset_at)
        return apex_given, curve, None, None, "given (--apex)"
    apex, curve, smoothed, width = spotting.spot(small, onset_at, clip.path)
    return apex, curve, smoothed, width, spotting.METHOD


def clip_part(clip, numbers):
    return collections.OrderedDict([
        ("path", os.path.abspath(clip.path)), ("kind", clip.kind), ("name", clip.name),
        ("frames", len(numbers)), ("first_frame", numbers[0]), ("last_frame", numbers[-1]),
        ("numbering", clip.numbering),
        ("fps", clip.fps)])


def curve_part(numbers, curve, smoothed):
    return collections.OrderedDict([
        ("frames", numbers), ("difference", [round(float(v), 4) for v in curve]),
        ("smoothed", None if smoothed is None else
         [None if v != v else round(float(v), 4) for v in smoothed])])


def model_part(model):
    return collections.OrderedDict([
        ("path", os.path.abspath(str(model.folder))), ("sha256", model.sha256),
        ("net", model.doc["net"]), ("fold", model.doc["fold"]),
        ("protocol", model.doc["protocol"]["name"]), ("family", model.doc["family"])])


def face_part(apex, box, found, most, args, box_frames):
    """The faces: the apex crop box (what the net saw: the apex frame's own,
    as training crops, or the clip's when the apex frame shows no face) and
    the clip's box, which spotting cuts every frame with (the median of
    box_frames = (count, landmarks used) frames' boxes)."""
    def said(b):
        return collections.OrderedDict(zip(("cx", "cy", "side", "angle"),
                                           (round(v, 3) for v in b)))
    return collections.OrderedDict([
        ("crop_box", said(apex[0])),
        ("crop_box_from", "the apex frame's landmarks (%s)" % apex[1] if apex[1]
         else "the clip's box (no face in the apex frame)"),
        ("clip_box", said(box)),
        ("frames_with_face", found), ("most_faces_in_a_frame", most),
        ("face_option", args.face), ("box_from_frames", box_frames[0]),
        ("landmarks_used", box_frames[1])])


def request(args, model):
    """What makes a clip's result what it is (a finished clip with the same is skipped)."""
    return collections.OrderedDict([("model_sha256", model.sha256), ("apex", args.apex),
                                    ("onset", args.onset), ("face", args.face)])

