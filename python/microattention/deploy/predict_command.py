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
    were (the faces stage's crop_box); the clip's box, which spotting cuts
    every frame with, is their median;
 2. apex: --apex, or spotted (spotting.METHOD) from --onset (default the
    first frame);
 3. the apex frame's 240x240 crop with its own box (its landmarks, refined
    as in 1), as the faces stage crops a training clip's apex frame (the
    clip's box when the apex frame shows no face), resized to the net's 224,
    through the deploy net: class probabilities, and the feature/attention
    maps.
OUT gets prediction.json (class, probabilities, apex frame and method, model
sha256, face box and notes), spotting.png (the curve) and attention.png (a
Figure-4-style overlay of the apex face), written together or not at all.
A finished clip (same model, same options) is not redone.
"""
import argparse
import csv
import io
import json
import os
import pathlib
import sys

from microattention import files
from microattention.deploy.clips import VIDEO_EXTENSIONS, find_clips
from microattention.deploy.locate import make_locator
from microattention.deploy.model import Model
from microattention.deploy.pictures import CURVE_PNG, OVERLAY_PNG
from microattention.deploy.predict import predict_clip, request
from microattention.errors import UserError

PREDICTION = "prediction.json"
SUMMARY = "summary.csv"


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


def default_out(clips, several):
    base = files.project_root() / "workspace" / "predict"
    return base if several else base / clips[0].name


def finished(out_dir, want):
    try:
        doc = files.read_json(pathlib.Path(out_dir) / PREDICTION)
    except UserError:       # damaged: predicted again
        return None
    if not isinstance(doc, dict) or doc.get("request") != json.loads(json.dumps(want)):
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
        return run_one(clips[0], model, locator, args, out, made, want, progress)
    return run_several(clips, model, locator, args, out, want, progress)


def run_one(clip, model, locator, args, out, made, want, progress):
    """One clip into `out` (unless it is finished there)."""
    doc = finished(out, want)
    if doc is None:
        try:
            doc, pictures = predict_clip(clip, model, locator, args, progress)
            write_clip(out, doc, pictures)
        except BaseException:
            files.remove_empty(made)     # no output of a failed clip, not even its folder
            raise
    _print(doc, out)
    return 0


def run_several(clips, model, locator, args, out, want, progress):
    """Every clip into out/<clip>/ (a failed clip does not stop the others),
    and out/summary.csv."""
    from tqdm import tqdm  # lazy: only the progress bar needs it (not on the host)
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
