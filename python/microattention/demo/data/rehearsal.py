"""`demo-data --rehearsal`: a small generated copy of all seven databases in
their released layouts (docs/datasets-layout.md), one folder each under
--out, for a dress rehearsal of the real-data path. The faces are the real
photographs of the demo (people.py), moved by the AUs of each clip's class
(clips.py); every person is one subject of one database, so the micro
(LOSO) people and the macro (pre-training) people are disjoint, and no
person is in two databases (holdout-database folds hold no face twice).

Output (OUT = --out), each folder read by `index --dataset NAME --root OUT/NAME`:
  casme2/  CASME2-coding-20190701.xlsx, CASME2-ObjectiveClasses.xlsx,
           Cropped/sub01/EP01_01/reg_imgN.jpg              (no extra option)
  samm/    SAMM_Micro_FACS_Codes_v2.xlsx (header on row 14),
           SAMM/006/006_1_1/006_NNNN.jpg                   (no extra option)
  smic/    SMIC/HS/s1/micro/positive/s1_po_01/imageNNNNNNN.bmp
                                                           (HS camera: the default)
  ckplus/  cohn-kanade-images/S005/001/..., Emotion/...    (no extra option)
  oulu/    OriginalImg/VL/Strong/P001/Anger/000.jpeg       (VIS, strong: the defaults)
  jaffe/   RA.HA1.1.tiff ...                               (no extra option)
  mug/     subjects3/001/happiness/take000/img_0001.jpg    (--mug-apex OUT/mug-apex.csv,
           the apex file a MUG user makes; without it the middle frame is taken)
  Each also holds, one per subject, samples the paper does not use, which
  `index` excludes and counts: CASME II and SAMM class VII, SMIC non_micro
  clips, CK+ contempt and unlabelled sequences, Oulu and JAFFE fear, JAFFE
  and MUG neutral (EXCLUDED).
  mug-apex.csv, demo-data.json (the manifest: who is where; every clip with
  its subject, clip and label as `index` names them, its folder (JAFFE: its
  file) below OUT/NAME, the person and photograph it shows, and the number
  of index rows it gives)
Same seed, same bytes."""
import json
import multiprocessing
import os
import shutil
import tempfile
import time
import types

from microattention.datasets import ckplus
from microattention.datasets.objective import NAMES, ROMAN
from microattention.demo.data import macro_sets, micro_sets
from microattention.demo.data.clips import (
    FACE_IOD, MAGNITUDE_MACRO, MAGNITUDE_MICRO, au_list, au_string, class_aus, clip_plan, clip_rng,
    macro_profile, micro_profile, render_clip)
from microattention.demo.data.generator import (
    casme2_clip, check_out, ckplus_clip, replace_folder)
from microattention.demo.data.layouts import (
    CLASSES, MANIFEST, Tree, casme2_names, casme2_sheets, ckplus_label, ckplus_names,
    clip_folder, encode, frame_name)
from microattention.demo.data.people import person_views, view_photos
from microattention.files import output_dir

MICRO = ("casme2", "samm", "smic")
MACRO = ("ckplus", "oulu", "jaffe", "mug")
# Who is in which database: each person once, in one database only.
PEOPLE_OF = {
    "casme2": ("obama", "biden", "hopper"),
    "samm": ("collins", "takeo", "lenna"),
    "smic": ("feat-alpha", "cruise", "feat-single"),
    "ckplus": ("bald-a", "bald-b"),
    "oulu": ("bald-c", "bald-d"),
    "jaffe": ("feat-f1", "feat-f15"),
    "mug": ("feat-f13", "feat-m7"),
}
# Clips per person and class (k = 0, 1: the photograph, then its mirror
# image) and frames per clip; small frames keep the tree quick to write.
CLIPS = {"casme2": 2, "samm": 2, "smic": 2, "ckplus": 1, "oulu": 1, "jaffe": 2, "mug": 1}
FRAMES = {"casme2": 5, "samm": 5, "smic": 5, "ckplus": 4, "oulu": 4, "jaffe": 1, "mug": 9}
SIZE = (160, 160)
NOISE = 2.0
SMIC_LABELS = ("positive", "negative", "surprise")
# What the releases also hold and the paper does not use, one sample per
# subject: `index` excludes them (and counts them by reason). Kinds: an
# objective class (VI fear, VII others), else a folder or label name.
EXCLUDED = {"casme2": (7,), "samm": (7,), "smic": ("non_micro",),
            "ckplus": ("contempt", "unlabelled"), "oulu": (6,), "jaffe": (6, "neutral"),
            "mug": ("neutral",)}
# Their AU moves (no class I-V); a neutral face moves nothing (intensity 0).
EXCLUDED_AUS = {6: "1+2+4+5+26", 7: "17", "neutral": "12", "non_micro": "6+12",
                "contempt": "23", "unlabelled": "1+2+5"}
# Random-stream codes of the kinds that are not objective classes
KIND_CODES = {"positive": 11, "negative": 12, "surprise": 13, "neutral": 20, "non_micro": 21,
              "contempt": 22, "unlabelled": 23}
# Extra `index` options per database (beyond --dataset NAME --root OUT/NAME),
# paths relative to OUT.
INDEX_OPTIONS = {"mug": ["--mug-apex", macro_sets.MUG_APEX_FILE]}
SIDE_FILES = {macro_sets.MUG_APEX_FILE: "MUG's apex frames (index --mug-apex): MUG does not "
                                        "annotate the apex, a MUG user writes this file"}


def tasks():
    """Every clip to render, in a fixed order: (dataset, identity, kind, k);
    the kind is an objective class or a folder name (SMIC's classes; the
    excluded neutral and non_micro)."""
    found = []
    for dataset in MICRO + MACRO:
        classes = SMIC_LABELS if dataset == "smic" else CLASSES
        people = range(len(PEOPLE_OF[dataset]))
        found += [(dataset, i, c, k) for i in people for c in classes
                  for k in range(CLIPS[dataset])]
        found += [(dataset, i, kind, 0) for i in people for kind in EXCLUDED.get(dataset, ())]
    return found


def label_of(kind):
    """The class name of a kind (as `index` and the layouts name it)."""
    return NAMES[kind] if isinstance(kind, int) else kind


def demo_options(seed):
    """The options the demo's own CASME II and CK+ writers read."""
    return types.SimpleNamespace(
        seed=seed, micro_people=PEOPLE_OF["casme2"], macro_people=PEOPLE_OF["ckplus"],
        au_variants=None, size=SIZE, magnitude_micro=MAGNITUDE_MICRO,
        magnitude_macro=MAGNITUDE_MACRO, jitter=1.0, micro_frames=FRAMES["casme2"],
        macro_frames=FRAMES["ckplus"], macro_clips=CLIPS["ckplus"], noise=NOISE, furrows=0.0)


def render(seed, faces, dataset, identity, kind, k, draws):
    """The frames of one clip of a set other than CASME II and CK+: its own
    random stream, `draws(rng, frames)` -> (onset, apex index or None)
    first."""
    person = PEOPLE_OF[dataset][identity]
    face = faces[person][k % len(faces[person])]
    rng = clip_rng(seed, dataset, identity, KIND_CODES.get(kind, kind), k)
    onset, apex_at = draws(rng, FRAMES[dataset])
    micro = dataset in MICRO and kind != "non_micro"
    magnitude = 0.0 if kind == "neutral" else MAGNITUDE_MICRO if micro else MAGNITUDE_MACRO
    if kind in EXCLUDED_AUS:
        aus = au_list(EXCLUDED_AUS[kind])
    elif dataset == "smic":
        choices = micro_sets.SMIC_CLASSES[kind]
        aus = class_aus(choices[(identity + k) % len(choices)], k)
    else:
        aus = class_aus(kind, k)
    plan = clip_plan(rng, SIZE, magnitude, aus)
    frames = FRAMES[dataset]
    profile = macro_profile(frames) if apex_at is None else micro_profile(frames, apex_at) \
        if frames > 1 else [1.0]
    images, _ = render_clip(face, aus, plan, profile, SIZE, NOISE, rng,
                            gray=dataset in ("samm", "ckplus", "jaffe"),
                            magnitude=magnitude or 1.0)
    return images, onset, apex_at, au_string(aus), face[0]


def _micro_draws(rng, frames):
    return int(rng.integers(1000, 9000)), int(rng.integers(2, frames - 2))


def write_clip(tree, seed, faces, task):
    """Render and write one clip; returns its manifest record."""
    dataset, identity, kind, k = task
    record = _write(tree, seed, faces, dataset, identity, kind, k)
    if kind in EXCLUDED.get(dataset, ()):
        record.update(rows=0, excluded=label_of(kind))
    return record


def _write(tree, seed, faces, dataset, identity, kind, k):
    label = label_of(kind)
    if kind in EXCLUDED.get(dataset, ()) and dataset in ("casme2", "ckplus"):
        return _unused_demo_layout(tree, seed, faces, dataset, identity, kind)
    if dataset in ("casme2", "ckplus"):
        write = casme2_clip if dataset == "casme2" else ckplus_clip
        record, _ = write(tree, faces, demo_options(seed), identity, kind, k)
        record["folder"] = clip_folder(dataset, record["subject"], record["clip"])
        record["rows"] = 1 if dataset == "casme2" else ckplus.LAST_FRAMES
        if dataset == "casme2":
            record["sheet_subject"] = record["subject"]
            record["subject"] = "sub%02d" % record["subject"]
        return record
    if dataset == "samm":
        images, onset, apex_at, aus, view = render(seed, faces, dataset, identity, kind, k,
                                                   _micro_draws)
        record = micro_sets.samm_clip(tree, images, identity, kind, k, onset, apex_at, aus)
    elif dataset == "smic":
        images, first, _, aus, view = render(seed, faces, dataset, identity, kind, k,
                                             lambda rng, n: (int(rng.integers(1, 5000)), n // 2))
        record = micro_sets.smic_clip(tree, images, identity, kind, k, first, aus)
    elif dataset == "oulu":
        images, _, _, aus, view = render(seed, faces, dataset, identity, kind, k,
                                         lambda rng, n: (0, None))
        record = macro_sets.oulu_sequence(tree, images, identity, label, aus)
    elif dataset == "jaffe":
        images, _, _, aus, view = render(seed, faces, dataset, identity, kind, k,
                                         lambda rng, n: (0, 0))
        kinds = CLASSES + list(EXCLUDED["jaffe"])
        image_id = 1 + (identity * len(kinds) + kinds.index(kind)) * CLIPS["jaffe"] + k
        record = macro_sets.jaffe_image(tree, images[0], identity, label, k, image_id, aus)
    else:
        images, _, apex_at, aus, view = render(
            seed, faces, dataset, identity, kind, k,
            lambda rng, n: (1, int(rng.integers(2, n - 2))))
        record = macro_sets.mug_take(tree, images, identity, label, k, apex_at, aus)
    record.update(person=PEOPLE_OF[dataset][identity], view=view,
                  mirrored=view.endswith("-mirrored"))
    return record


def _unused_demo_layout(tree, seed, faces, dataset, identity, kind):
    """A CASME II clip of class VII or a CK+ sequence labelled contempt or
    not labelled: the demo's layouts, with AUs of no class I-V."""
    if dataset == "casme2":
        images, onset, apex_at, aus, view = render(seed, faces, dataset, identity, kind, 0,
                                                   _micro_draws)
        subject, clip = casme2_names(identity, kind, 0)
        numbers = range(onset, onset + len(images))
        record = {"subject": "sub%02d" % subject, "sheet_subject": subject, "clip": clip,
                  "class": ROMAN[kind], "label": NAMES[kind], "aus": aus, "onset": onset,
                  "apex": onset + apex_at, "offset": numbers[-1]}
    else:
        images, _, _, aus, view = render(seed, faces, dataset, identity, kind, 0,
                                         lambda rng, n: (0, None))
        sequence = len(CLASSES) * CLIPS["ckplus"] + 1 + EXCLUDED["ckplus"].index(kind)
        subject, clip = ckplus_names(identity, sequence)
        numbers = range(1, len(images) + 1)
        record = {"subject": subject, "clip": clip, "label": kind, "aus": aus}
        if kind != "unlabelled":
            code = {name: c for c, name in ckplus.CODES.items()}[kind]
            path, text = ckplus_label(subject, clip, len(images), code)
            tree.write("ckplus/" + path, text)
    folder = clip_folder(dataset, record["sheet_subject" if dataset == "casme2" else "subject"],
                         clip)
    for n, image in zip(numbers, images):
        tree.write("%s/%s/%s" % (dataset, folder, frame_name(dataset, clip, n)),
                   encode(image, ".jpg" if dataset == "casme2" else ".png"))
    record.update(folder=folder, frames=len(images), person=PEOPLE_OF[dataset][identity],
                  view=view, mirrored=view.endswith("-mirrored"))
    return record


_STATE = {}


def _run(task):
    return write_clip(_STATE["tree"], _STATE["seed"], _STATE["faces"], task)


def _one_thread():
    import cv2  # lazy: workers already use the cores
    cv2.setNumThreads(1)


def render_all(tree, seed, faces, jobs):
    """Every clip's record by dataset; forked workers when jobs > 1 (each
    clip has its own random stream: the bytes do not depend on jobs)."""
    todo = tasks()
    _STATE.update(tree=tree, seed=seed, faces=faces)
    try:
        if jobs > 1:
            with multiprocessing.get_context("fork").Pool(jobs, _one_thread) as pool:
                records = pool.map(_run, todo, chunksize=4)
        else:
            records = [_run(task) for task in todo]
    finally:
        _STATE.clear()
    found = {dataset: [] for dataset in MICRO + MACRO}
    for task, record in zip(todo, records):
        found[task[0]].append(record)
    return found


def manifest_of(seed, faces, clips):
    return {
        "generator": "microattention demo-data --rehearsal",
        "note": "generated from real photographs (people.py); not the databases",
        "options": {"seed": seed, "size": "%dx%d" % SIZE, "noise": NOISE,
                    "magnitude_micro": MAGNITUDE_MICRO, "magnitude_macro": MAGNITUDE_MACRO},
        "roles": {"micro": list(MICRO), "macro": list(MACRO)},
        # who is where: one subject per person, each person in one database
        "people": {dataset: {person: clips[dataset][[c["person"] for c in clips[dataset]]
                                                    .index(person)]["subject"]
                             for person in PEOPLE_OF[dataset]}
                   for dataset in MICRO + MACRO},
        "views": {p: [v[0] for v in faces[p]] for p in faces},
        # the photograph (file, crop box) of every view, as the demo's
        # identity checks read it
        "photos": view_photos(list(faces)),
        "index_options": {d: INDEX_OPTIONS.get(d, []) for d in MICRO + MACRO},
        "side_files": SIDE_FILES,
        "datasets": clips,
    }


def generate(out, seed, force=False, jobs=1):
    """Write the tree to `out` (a temporary folder beside it, renamed at the
    end); returns the manifest."""
    opts = types.SimpleNamespace(out=out, force=force)
    out = os.path.abspath(out)
    parent = os.path.dirname(out)
    check_out(opts, out)
    output_dir(parent)
    names = [p for d in MICRO + MACRO for p in PEOPLE_OF[d]]
    faces = person_views(names, min(SIZE) * FACE_IOD)
    work = tempfile.mkdtemp(prefix=".rehearsal-data-", dir=parent)
    try:
        tree = Tree(work)
        clips = render_all(tree, seed, faces, jobs)
        casme2_sheets(tree, [dict(c, subject=c["sheet_subject"]) for c in clips["casme2"]])
        micro_sets.samm_sheet(tree, clips["samm"])
        tree.write(macro_sets.MUG_APEX_FILE,
                   macro_sets.mug_apex_csv([c for c in clips["mug"] if c["rows"]]))
        manifest = manifest_of(seed, faces, clips)
        tree.write(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        replace_folder(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def run(opts):
    """The --rehearsal branch of `demo-data` (reads --out, --seed, --force, --jobs)."""
    jobs = opts.jobs or min(2, len(os.sched_getaffinity(0)))
    start = time.time()
    manifest = generate(opts.out, opts.seed, opts.force, jobs)
    print("rehearsal data in %s (%.1f s), generated from real photographs, not the databases:"
          % (opts.out, time.time() - start))
    for dataset in MICRO + MACRO:
        clips = manifest["datasets"][dataset]
        extra = ["%s %s" % (o, os.path.join(opts.out, v)) if v.endswith(".csv") else o
                 for o, v in zip(INDEX_OPTIONS.get(dataset, [])[::2],
                                 INDEX_OPTIONS.get(dataset, [])[1::2])]
        print("  %-6s %d subjects, %2d samples (+%d not used), %3d index rows: python3 -m "
              "microattention index --dataset %s --root %s%s"
              % (dataset, len(PEOPLE_OF[dataset]), sum(1 for c in clips if c["rows"]),
                 sum(1 for c in clips if not c["rows"]), sum(c["rows"] for c in clips),
                 dataset, os.path.join(opts.out, dataset), "".join(" " + e for e in extra)))
    return 0
