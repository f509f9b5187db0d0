"""Predict the micro-expression class of a user's own clip with an exported model.

  predict --model MODEL (--video FILE_OR_DIR | --frames DIR) [--apex N] [--onset N]
          [--face N] [--out DIR] [--gpu ID]

One clip: a video file (read with OpenCV; frames numbered from 0) or a folder
of frame images (numbered as the dataset readers number them: the digits of
the file name, e.g. CASME II's reg_img46.jpg is frame 46; by position from 1
when no name carries a number; a mix of both is refused). A folder of videos, or a folder
whose sub-folders hold frames (a CASME II tree, say), is a folder of clips:
each gets its own OUT/<clip>/ and OUT/summary.csv lists them all.

Per clip:
 1. faces: dlib's detector on every frame (the largest face, or with --face N
    the N-th from the left); on up to BOX_FRAMES roughly evenly spaced frames with a
    face, dlib's 68 points refined by the model's AAM when its training crops
    were (the faces stage's crop_box); the clip's one box is their median,
    as the faces stage makes it for training clips;
 2. apex: --apex, or spotted (spotting.METHOD) from --onset (default the
    first frame);
 3. the apex frame's 240x240 crop, resized to the net's 224, through the
    deploy net: class probabilities, and the feature/attention maps.
OUT gets prediction.json (class, probabilities, apex frame and method, model
sha256, face box and notes), spotting.png (the curve) and attention.png (a
Figure-4-style overlay of the apex face), written together or not at all.
A finished clip (same model, same options) is not redone.
"""
import argparse
import collections
import csv
import io
import json
import os
import pathlib
import sys
import time

import numpy as np

from microattention import files
from microattention.deploy import export
from microattention.deploy import spotting
from microattention.errors import UserError

FORMAT = "microattention-prediction/1"
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
BOX_FRAMES = 16          # frames whose landmarks give the clip's crop box
PREDICTION = "prediction.json"
CURVE_PNG = "spotting.png"
OVERLAY_PNG = "attention.png"
SUMMARY = "summary.csv"
PREDICTABLE = ("micro", "smic")   # class families of micro-expression models


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--model", required=True, metavar="MODEL",
                        help="a model folder written by the export command")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", metavar="FILE|DIR",
                        help="a video file, or a folder of video files (%s)"
                             % " ".join(VIDEO_EXTENSIONS))
    source.add_argument("--frames", metavar="DIR",
                        help="a folder of frame images, or a folder of such folders")
    parser.add_argument("--apex", type=int, metavar="N",
                        help="the apex frame (no spotting); one clip only")
    parser.add_argument("--onset", type=int, metavar="N",
                        help="the onset frame spotting compares with (default: the first)")
    parser.add_argument("--face", type=int, metavar="N",
                        help="with several faces in the frame: the N-th from the left "
                             "(default: the largest)")
    parser.add_argument("--out", metavar="DIR",
                        help="output folder (default: workspace/predict/<clip name>)")
    parser.add_argument("--gpu", type=int, metavar="ID", help="run the net on this GPU")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


# ------------------------------------------------------------------ clips

class Clip:
    """A video file or a folder of frames: frames() yields (number, gray)."""

    def __init__(self, path, kind, name):
        self.path, self.kind, self.name = str(path), kind, name
        self.fps = None
        if kind == "frames":
            self.images, self.numbers, self.numbering = frame_files(self.path)
        else:
            self.numbering = "0-based frame index"
            self._check_video()

    def _check_video(self):
        import cv2
        if not os.path.isfile(self.path):
            raise UserError("--video %s: no such file" % self.path)
        if os.path.getsize(self.path) == 0:
            raise UserError("--video %s is an empty file" % self.path)
        capture = cv2.VideoCapture(self.path)
        try:
            ok, frame = capture.read() if capture.isOpened() else (False, None)
            if not ok or frame is None:
                raise UserError("--video %s: OpenCV reads no frame from it (not a video, "
                                "or a format this OpenCV cannot decode)" % self.path)
            self.fps = capture.get(cv2.CAP_PROP_FPS) or None
            self.estimate = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        finally:
            capture.release()

    def count_hint(self):
        return len(self.images) if self.kind == "frames" else self.estimate

    def frames(self):
        import cv2
        if self.kind == "frames":
            for number, name in zip(self.numbers, self.images):
                path = os.path.join(self.path, name)
                gray = _read_gray(path)
                if gray is None:
                    raise UserError("--frames %s: frame %s cannot be read as an image"
                                    % (self.path, name))
                yield number, gray
            return
        capture = cv2.VideoCapture(self.path)
        try:
            number = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                yield number, (frame if frame.ndim == 2
                               else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
                number += 1
        finally:
            capture.release()

    def frame(self, wanted):
        for number, gray in self.frames():
            if number == wanted:
                return gray
        raise UserError("%s: frame %d could not be read again" % (self.path, wanted))


def _read_gray(path):
    """A frame file as a gray image, or None. Not faces.read_gray: the bytes
    are read by Python and decoded from memory, since cv2.imread crashes the
    process (segmentation fault) on a file name that is not UTF-8, and a
    user's frame folder has not been checked by the index stage."""
    import cv2
    try:
        data = np.fromfile(path, np.uint8)
    except OSError:
        return None
    if not data.size:
        return None
    gray = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    return gray if gray is not None and gray.size else None


NUMBERED = "frame numbers of the file names"
POSITIONS = "positions from 1 in name order (the file names carry no frame numbers)"


def frame_files(folder):
    """(image names in frame order, their frame numbers, how they are
    numbered) of a frame folder: the numbers in the file names, or positions
    from 1 when no name has one. A mix is refused: --apex and --onset name
    frames by the numbers of their file names."""
    from microattention.datasets.files import frame_number, sorted_images
    if not os.path.isdir(folder):
        raise UserError("--frames %s: no such folder" % folder)
    names = sorted_images(folder)    # two files with one number: DuplicateFrames
    if not names:
        raise UserError("--frames %s holds no images" % folder)
    numbers = [frame_number(n) for n in names]
    bare = [n for n, k in zip(names, numbers) if k is None]
    if not bare:
        return names, numbers, NUMBERED
    if len(bare) < len(names):
        raise UserError("--frames %s: %d of %d frame files have no frame number in their "
                        "name (%s), the others have; rename them all with their frame "
                        "numbers, or none" % (folder, len(bare), len(names),
                                              ", ".join(bare[:3]) + (", ..." if len(bare) > 3
                                                                     else "")))
    return names, list(range(1, len(names) + 1)), POSITIONS


def find_clips(args):
    """[Clip] of --video / --frames: one, or every clip of a folder of clips."""
    from microattention.datasets.files import is_image
    if args.video:
        path = pathlib.Path(args.video)
        if path.is_dir():
            videos = sorted(p for p in path.iterdir()
                            if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
            if not videos:
                raise UserError("--video %s: a folder without video files (%s)"
                                % (path, " ".join(VIDEO_EXTENSIONS)))
            return [Clip(p, "video", p.stem) for p in videos], True
        return [Clip(path, "video", path.stem)], False
    root = pathlib.Path(args.frames)
    if not root.is_dir():
        raise UserError("--frames %s: no such folder" % root)
    if any(is_image(p.name) for p in root.iterdir() if p.is_file()):
        return [Clip(root, "frames", root.name)], False
    clips = []
    for folder, dirs, names in os.walk(str(root)):
        dirs.sort()
        if any(is_image(n) for n in names):
            rel = os.path.relpath(folder, str(root))
            clips.append(Clip(folder, "frames", rel.replace(os.sep, "__")))
    if not clips:
        raise UserError("--frames %s holds no images, nor folders of images" % root)
    return clips, True


# ------------------------------------------------------------------ faces

def choose(boxes, face):
    """The largest box, or the face-th from the left; None when there is none."""
    if not boxes:
        return None
    if face is None:
        return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    ordered = sorted(boxes, key=lambda b: (b[0] + b[2]) / 2.0)
    return ordered[face - 1] if face <= len(ordered) else None


def landmarks(locator, gray, box):
    """dlib's 68 points in `box`, refined by the AAM fit when there is a
    fitter and the fit is not rejected (as faces.Locator.locate)."""
    points = locator.landmarks(gray, box)
    if locator.fitter is not None:
        fitted, _, rejected = locator.fitter.fit(gray, points)
        if not rejected:
            return fitted, "aam"
    return points, "dlib"


def locate_clip(clip, locator, face, progress):
    """Pass 1: the chosen face of every frame. Returns the frame numbers,
    the chosen boxes (None: no face), the most faces in one frame, and up to
    2 x BOX_FRAMES roughly evenly spaced frames with a face, kept for the
    crop box (thinned to every other one whenever there are more, so a
    video of unknown length is read once)."""
    from tqdm import tqdm
    numbers, boxes, most, kept, step = [], [], 0, [], 1
    bar = tqdm(total=clip.count_hint() or None, unit="frame", file=sys.stderr,
               desc="%s: faces" % clip.name, disable=not progress, leave=False)
    try:
        for number, gray in clip.frames():
            found = [box for box, _ in locator.detect_all(gray)]
            most = max(most, len(found))
            chosen = choose(found, face)
            if chosen is not None and len(numbers) % step == 0:
                kept.append((gray, chosen))
                if len(kept) > 2 * BOX_FRAMES:
                    kept, step = kept[::2], step * 2
            numbers.append(number)
            boxes.append(chosen)
            bar.update(1)
    finally:
        bar.close()
    return numbers, boxes, most, kept


def clip_box(locator, kept):
    """The clip's one crop box: the median of faces.crop_box over up to
    BOX_FRAMES evenly spaced kept frames; and which landmarks were used."""
    from microattention.faces import crop
    picks = sorted(set(int(round(k)) for k in
                       np.linspace(0, len(kept) - 1, min(BOX_FRAMES, len(kept)))))
    crop_boxes, used = [], collections.Counter()
    for i in picks:
        gray, box = kept[i]
        points, how = landmarks(locator, gray, box)
        crop_boxes.append(crop.crop_box(points))
        used[how] += 1
    return crop.shared_box(crop_boxes), dict(used), len(crop_boxes)


# ------------------------------------------------------------------ the net

class Model:
    """An exported model, checked, with its pycaffe net."""

    def __init__(self, folder, gpu=None):
        from microattention.nets import prototxt as nets
        from microattention.attention import visualize
        self.folder = pathlib.Path(folder)
        self.doc, self.sha256 = export.load_model(folder)
        family = self.doc["family"]
        if family not in PREDICTABLE:
            raise UserError("--model %s is a model of the %s-expression classes (%s, protocol "
                            "%s); predict needs a micro-expression model (class family %s): "
                            "export a fine-tuned fold (loso, cde or hde)"
                            % (folder, family, ", ".join(self.doc["classes"]),
                               self.doc["protocol"]["name"], " or ".join(PREDICTABLE)))
        self.classes = list(self.doc["classes"])
        caffe = nets.import_caffe()
        if gpu is not None:
            caffe.set_mode_gpu()
            caffe.set_device(int(gpu))
        self.net = visualize.load_net(self.doc["net"], str(self.folder / export.WEIGHTS),
                                      "--model %s:" % folder,
                                      deploy=self.folder / export.DEPLOY)[0]
        outputs = self.net.blobs["prob"].data.shape[-1] if "prob" in self.net.blobs else None
        if outputs != len(self.classes):
            raise UserError("--model %s: its net has %s outputs for %d classes"
                            % (folder, outputs, len(self.classes)))
        self.aam = None
        if self.doc["crop"].get("landmarks") == "aam" and export.AAM in self.doc["files_sha256"]:
            from microattention.faces import aam
            self.aam = aam.load(str(self.folder / export.AAM))

    def predict(self, face):
        """(probabilities, OrderedDict map name -> 2-D map) of a 240x240 face."""
        from microattention.attention import visualize
        maps, prob = visualize.forward(self.net, face)
        return prob.reshape(-1), maps


# ------------------------------------------------------------------ one clip

def _position(numbers, value, option, clip):
    if value is None:
        return None
    if value not in numbers:
        raise UserError("%s %d is outside the clip %s: its frames are %d to %d"
                        % (option, value, clip.path, numbers[0], numbers[-1]))
    return numbers.index(value)


def predict_clip(clip, model, locator, args, progress=True):
    """Everything of one clip in memory: (prediction document, {file: bytes})."""
    from microattention.faces import crop
    from microattention.faces.locator import NO_FACE
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
    notes = []
    if most > 1:
        notes.append("up to %d faces in a frame: %s used; choose another with --face N "
                     "(numbered from the left)" % (most, "the largest" if args.face is None
                                                   else "face %d from the left" % args.face))
    if clip.numbering == POSITIONS:
        notes.append("frames are numbered by position from 1 in name order (the file names "
                     "carry no frame numbers), also in --apex and --onset")
    if found < len(numbers):
        notes.append("%d of %d frames show no%s face; the clip's one crop box is used for "
                     "them too" % (len(numbers) - found, len(numbers),
                                   "" if args.face is None else " chosen"))

    # pass 2: every frame's crop, reduced, for spotting
    small = []
    for _, gray in clip.frames():
        small.append(spotting.reduce(crop.cut(gray, box)[0]))
    if len(small) != len(numbers):
        raise UserError("%s gave %d frames, then %d" % (clip.path, len(numbers), len(small)))
    onset_at = onset or 0
    if apex_given is not None:
        apex = apex_given
        curve = spotting.difference_curve(small, onset_at)
        smoothed, width = None, None
        method = "given (--apex)"
    else:
        apex, curve, smoothed, width = spotting.spot(small, onset_at, clip.path)
        method = spotting.METHOD

    # the apex face, its landmarks in crop pixels, the net
    gray = clip.frame(numbers[apex])
    face, matrix = crop.cut(gray, box)
    points = None
    if boxes[apex] is not None:
        points = crop.transform(landmarks(locator, gray, boxes[apex])[0], matrix)
    prob, maps = model.predict(face)
    best = int(np.argmax(prob))
    doc = collections.OrderedDict([
        ("format", FORMAT),
        ("clip", collections.OrderedDict([
            ("path", os.path.abspath(clip.path)), ("kind", clip.kind), ("name", clip.name),
            ("frames", len(numbers)), ("first_frame", numbers[0]), ("last_frame", numbers[-1]),
            ("numbering", clip.numbering),
            ("fps", clip.fps)])),
        ("class", model.classes[best]),
        ("probabilities", collections.OrderedDict(
            (c, round(float(p), 6)) for c, p in zip(model.classes, prob))),
        ("apex_frame", numbers[apex]),
        ("onset_frame", numbers[onset_at]),
        ("method", method),
        ("smoothing_window", width),
        ("curve", collections.OrderedDict([
            ("frames", numbers), ("difference", [round(float(v), 4) for v in curve]),
            ("smoothed", None if smoothed is None else
             [None if v != v else round(float(v), 4) for v in smoothed])])),
        ("model", collections.OrderedDict([
            ("path", os.path.abspath(str(model.folder))), ("sha256", model.sha256),
            ("net", model.doc["net"]), ("fold", model.doc["fold"]),
            ("protocol", model.doc["protocol"]["name"]), ("family", model.doc["family"])])),
        ("face", collections.OrderedDict([
            ("crop_box", collections.OrderedDict(zip(("cx", "cy", "side", "angle"),
                                                     (round(v, 3) for v in box)))),
            ("frames_with_face", found), ("most_faces_in_a_frame", most),
            ("face_option", args.face), ("box_from_frames", box_frames),
            ("landmarks_used", used)])),
        ("notes", notes),
        ("request", request(args, model)),
        ("seconds", round(time.time() - started, 2)),
    ])
    pictures = {CURVE_PNG: curve_png(doc), OVERLAY_PNG: overlay_png(doc, model, face, points,
                                                                    maps)}
    return doc, pictures


def request(args, model):
    """What makes a clip's result what it is (a finished clip with the same is skipped)."""
    return collections.OrderedDict([("model_sha256", model.sha256), ("apex", args.apex),
                                    ("onset", args.onset), ("face", args.face)])


def curve_png(doc):
    from microattention.attention import visualize
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    c = doc["curve"]
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.plot(c["frames"], c["difference"], color="0.6", lw=1, label="difference from onset")
    if c["smoothed"] is not None:
        ax.plot(c["frames"], [np.nan if v is None else v for v in c["smoothed"]], color="C0",
                lw=1.5, label="smoothed (window %d)" % doc["smoothing_window"])
    ax.axvline(doc["onset_frame"], color="C2", ls="--", lw=1, label="onset %d"
               % doc["onset_frame"])
    ax.axvline(doc["apex_frame"], color="C3", lw=1.5, label="apex %d (%s)" % (
        doc["apex_frame"], "given" if doc["method"].startswith("given") else "spotted"))
    ax.set_xlabel("frame")
    ax.set_ylabel("mean |grey-level difference|")
    ax.legend(fontsize=7)
    return visualize.png(fig, "%s: apex spotting" % doc["clip"]["name"], 9, 100)


def overlay_png(doc, model, face, points, maps):
    """visualize.render's Figure-4 picture of the apex face: the face (with the
    predicted class's AU regions when its landmarks are known) and each map."""
    from microattention.attention import visualize
    label = doc["class"]
    aus = visualize.REGION_AUS.get(label)
    mask = None
    if points is not None and aus:
        mask = visualize.region_mask(points, aus, face.shape)
    rows = [{"net": model.doc["net"],
             "pred": "predicted %s (p %.2f)%s" % (
                 label, doc["probabilities"][label],
                 "\nAU%s regions" % "+".join(map(str, aus)) if mask is not None else ""),
             "maps": visualize.score_maps(maps, None, face.shape[0])}]
    title = "%s, apex frame %d" % (doc["clip"]["name"], doc["apex_frame"])
    return visualize.render(title, face, rows, points, mask, None, None)


# ------------------------------------------------------------------ the command

def default_out(clips, several):
    base = files.project_root() / "workspace" / "predict"
    return base if several else base / clips[0].name


def finished(out_dir, want):
    try:
        doc = json.loads((pathlib.Path(out_dir) / PREDICTION).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if doc.get("request") != json.loads(json.dumps(want)):
        return None
    if not all((pathlib.Path(out_dir) / n).is_file() for n in (CURVE_PNG, OVERLAY_PNG)):
        return None
    return doc


def write_clip(out_dir, doc, pictures):
    contents = {pathlib.Path(out_dir) / PREDICTION: json.dumps(doc, indent=1) + "\n"}
    contents.update({pathlib.Path(out_dir) / n: data for n, data in pictures.items()})
    files.write_together(contents)


def summary_csv(results, classes):
    columns = (["clip", "status", "class"] + ["p_%s" % c for c in classes]
               + ["apex_frame", "onset_frame", "frames", "frames_with_face",
                  "most_faces_in_a_frame", "method", "reason"])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    for name, doc, reason in results:
        row = {"clip": name, "status": "ok" if doc else "failed", "reason": reason or ""}
        if doc:
            row.update({"class": doc["class"], "apex_frame": doc["apex_frame"],
                        "onset_frame": doc["onset_frame"], "frames": doc["clip"]["frames"],
                        "frames_with_face": doc["face"]["frames_with_face"],
                        "most_faces_in_a_frame": doc["face"]["most_faces_in_a_frame"],
                        "method": "given" if doc["method"].startswith("given") else "spotted"})
            row.update({"p_%s" % c: "%.6f" % p for c, p in doc["probabilities"].items()})
        writer.writerow(row)
    return buf.getvalue()


def make_locator(model):
    from microattention.faces.locator import Locator
    return Locator(model.aam)


def run(args):
    args.model, args.video, args.frames = (files.input_path(p) for p in
                                           (args.model, args.video, args.frames))
    clips, several = find_clips(args)
    if several and args.apex is not None:
        raise UserError("--apex %d names a frame of one clip; %s holds %d clips"
                        % (args.apex, args.video or args.frames, len(clips)))
    model = Model(args.model, args.gpu)
    out = pathlib.Path(args.out) if args.out else default_out(clips, several)
    if out.exists() and not out.is_dir():
        raise UserError("--out %s is a file; give a folder" % out)
    inputs = {os.path.realpath(c.path) for c in clips} | {os.path.realpath(args.model)}
    if os.path.realpath(str(out)) in inputs:
        raise UserError("--out %s is an input; choose another folder" % out)
    made = files.new_dirs(out)
    files.output_dir(out)       # a folder we cannot write to fails now, not after the work
    locator = make_locator(model)
    progress = not args.no_progress
    want = request(args, model)
    if not several:
        doc = finished(out, want)
        if doc is None:
            try:
                doc, pictures = predict_clip(clips[0], model, locator, args, progress)
                write_clip(out, doc, pictures)
            except BaseException:
                files.remove_empty(made)     # no output of a failed clip, not even its folder
                raise
        _print(doc, out)
        return 0
    from tqdm import tqdm
    results = []
    for clip in tqdm(clips, unit="clip", file=sys.stderr, disable=not progress):
        clip_out = out / clip.name
        doc = finished(clip_out, want)
        try:
            if doc is None:
                doc, pictures = predict_clip(clip, model, locator, args, progress=False)
                write_clip(clip_out, doc, pictures)
            results.append((clip.name, doc, None))
        except UserError as exc:
            results.append((clip.name, None, str(exc)))
    files.atomic_write(out / SUMMARY, summary_csv(results, model.classes))
    failed = [r for r in results if r[1] is None]
    for name, doc, _ in results:
        if doc:
            print("%s: %s (p %.2f), apex frame %d" % (name, doc["class"],
                                                     doc["probabilities"][doc["class"]],
                                                     doc["apex_frame"]))
    print("%d clip(s), %d failed; wrote %s" % (len(results), len(failed), out / SUMMARY))
    for name, _, reason in failed:
        sys.stderr.write("predict: %s failed: %s\n" % (name, reason))
    return 1 if failed else 0


def _print(doc, out):
    print("%s: %s (p %.2f), apex frame %d (%s)" % (
        doc["clip"]["name"], doc["class"], doc["probabilities"][doc["class"]],
        doc["apex_frame"], "given" if doc["method"].startswith("given") else "spotted"))
    for note in doc["notes"]:
        print("note: %s" % note)
    print("wrote %s (%s, %s, %s)" % (out, PREDICTION, CURVE_PNG, OVERLAY_PNG))
