"""The generator: every clip of both sets rendered (in forked workers when
asked) and written into the CASME II and CK+ trees, the landmarks CSV and the
manifest, the whole folder replaced atomically."""
# Output (OUT = --out):
#   OUT/casme2/CASME2-coding-20190701.xlsx, CASME2-ObjectiveClasses.xlsx,
#       Cropped/subNN/EPcc_kk/reg_imgN.jpg                 (micro set)
#       truth/subNN/EPcc_kk.png   where the clip changes, neutral -> apex (truth.py)
#   OUT/ckplus/cohn-kanade-images/SNNN/NNN/SNNN_NNN_0000000N.png,
#       Emotion/SNNN/NNN/SNNN_NNN_0000000N_emotion.txt    (macro set)
#   OUT/landmarks.csv   the 68 points of every written frame (x, y in pixels)
#   OUT/demo-data.json  the options and the plan of every clip (AUs, apex, ...)
import json
import multiprocessing
import os
import shutil
import tempfile

from microattention.datasets.objective import NAMES, ROMAN
from microattention.demo.data.clips import (
    FACE_IOD, au_string, class_aus, clip_plan, clip_rng, macro_profile, micro_profile,
    render_clip)
from microattention.demo.data.layouts import (
    CLASSES, MANIFEST, Tree, casme2_names, casme2_sheets, ckplus_codes, ckplus_label,
    ckplus_names, clip_folder, encode, frame_name, landmarks_csv)
from microattention.demo.data.people import person_views, view_photos
from microattention.demo.data.truth import truth_mask, truth_path
from microattention.errors import UserError
from microattention.files import output_dir


def casme2_clip(tree, faces, opts, identity, number, k):
    """Render and write one CASME II clip of person number `identity` of the
    micro people (its view: clip k's, photographs and mirror images in turn);
    returns (clip record, landmark rows)."""
    person = opts.micro_people[identity]
    views = faces[person]
    face = views[k % len(views)]
    rng = clip_rng(opts.seed, "casme2", identity, number, k)
    aus = class_aus(number, k, opts.au_variants)
    plan = clip_plan(rng, opts.size, opts.magnitude_micro, aus, opts.jitter)
    frames = opts.micro_frames
    apex_at = int(rng.integers(1, frames - 1)) if frames < 5 else int(rng.integers(2, frames - 2))
    onset = int(rng.integers(1, 150))
    clean = []
    images, points = render_clip(face, aus, plan, micro_profile(frames, apex_at), opts.size,
                                 opts.noise, rng, furrows=opts.furrows,
                                 magnitude=opts.magnitude_micro, clean=clean)
    subject, name = casme2_names(identity, number, k)
    folder = "casme2/" + clip_folder("casme2", subject, name)
    # where the clip changes: neutral (first) frame against the apex frame
    truth = truth_path(subject, name)
    tree.write("casme2/" + truth, encode(truth_mask(clean[0], clean[apex_at]), ".png"))
    rows = []
    for offset, (image, pts) in enumerate(zip(images, points)):
        path = "%s/%s" % (folder, frame_name("casme2", name, onset + offset))
        tree.write(path, encode(image, ".jpg"))
        rows.append((path, pts))
    clip = {"subject": subject, "clip": name, "person": person, "view": face[0],
            "mirrored": face[0].endswith("-mirrored"), "class": ROMAN[number],
            "label": NAMES[number], "aus": au_string(aus), "onset": onset,
            "apex": onset + apex_at, "offset": onset + frames - 1, "frames": frames,
            "truth": truth}
    clip.update(_rounded(plan))
    return clip, rows


def ckplus_clip(tree, faces, opts, identity, number, k):
    """Render and write one CK+ sequence of person number `identity` of the
    macro people; returns (clip record, landmark rows)."""
    person = opts.macro_people[identity]
    views = faces[person]
    face = views[k % len(views)]
    rng = clip_rng(opts.seed, "ckplus", identity, number, k)
    aus = class_aus(number, k, opts.au_variants)
    plan = clip_plan(rng, opts.size, opts.magnitude_macro, aus, opts.jitter)
    images, points = render_clip(face, aus, plan, macro_profile(opts.macro_frames), opts.size,
                                 opts.noise, rng, gray=True, furrows=opts.furrows,
                                 magnitude=opts.magnitude_macro)
    subject, name = ckplus_names(identity, CLASSES.index(number) * opts.macro_clips + k + 1)
    folder = "ckplus/" + clip_folder("ckplus", subject, name)
    rows = []
    for n, (image, pts) in enumerate(zip(images, points), start=1):
        path = "%s/%s" % (folder, frame_name("ckplus", name, n))
        tree.write(path, encode(image, ".png"))
        rows.append((path, pts))
    code = ckplus_codes()[number]
    label_path, text = ckplus_label(subject, name, len(images), code)
    tree.write("ckplus/" + label_path, text)
    clip = {"subject": subject, "clip": name, "person": person,
            "view": face[0], "mirrored": face[0].endswith("-mirrored"),
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
    import cv2  # lazy: keeps --help fast
    cv2.setNumThreads(1)


def render_all(tree, faces, opts):
    """Every clip of both sets, in a fixed order; with opts.jobs > 1 clips are
    rendered by forked workers (each clip has its own random stream, so the
    bytes do not depend on the number of workers)."""
    tasks = [("casme2", i, n, k) for i in range(len(opts.micro_people)) for n in CLASSES
             for k in range(opts.micro_clips)]
    tasks += [("ckplus", i, n, k) for i in range(len(opts.macro_people)) for n in CLASSES
              for k in range(opts.macro_clips)]
    _TASK.update(tree=tree, faces=faces, opts=opts)
    try:
        if opts.jobs > 1:
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


def _rounded(plan):
    return {"centre": [round(v, 3) for v in plan["centre"]], "iod": round(plan["iod"], 3),
            "degrees": round(plan["degrees"], 3),
            "intensity": {str(a): round(v, 4) for a, v in plan["intensity"].items()},
            "gain": round(plan["gain"], 4), "bias": round(plan["bias"], 3),
            "shrunk": plan.get("shrunk", 0)}



def check_out(opts, out):
    """Refuse an --out that is a file, or a folder that demo-data did not
    write (unless empty), or any non-empty folder without --force."""
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


def manifest_of(opts, faces, clips):
    """demo-data.json: the options, who is where, the views and every clip."""
    return {
        "generator": "microattention demo-data",
        "options": {"seed": opts.seed, "micro_people": list(opts.micro_people),
                    "macro_people": list(opts.macro_people),
                    "photos_per_person": opts.photos_per_person,
                    "micro_clips": opts.micro_clips, "macro_clips": opts.macro_clips,
                    "micro_frames": opts.micro_frames, "macro_frames": opts.macro_frames,
                    "magnitude_micro": opts.magnitude_micro,
                    "magnitude_macro": opts.magnitude_macro,
                    "size": "%dx%d" % tuple(opts.size), "noise": opts.noise,
                    "jitter": opts.jitter, "au_variants": opts.au_variants,
                    "furrows": opts.furrows},
        # who is where: the LOSO (micro) people and the pre-training
        # (macro) people are disjoint; a person's mirror images are clips
        # of the same subject
        "people": {"micro": {p: "sub%02d" % (i + 1) for i, p in enumerate(opts.micro_people)},
                   "macro": {p: "S%03d" % (5 + i) for i, p in enumerate(opts.macro_people)}},
        "views": {p: [v[0] for v in faces[p]] for p in faces},
        # the photograph (file and crop box) of every view: the identity
        # check keys photographs on these, not on the person's name
        "photos": view_photos(list(faces), opts.photos_per_person),
        "casme2": clips["casme2"],
        "ckplus": clips["ckplus"],
    }


def replace_folder(work, out):
    """The written temporary folder `work` becomes `out` (an old `out` is
    moved aside first and removed after)."""
    os.chmod(work, 0o755)
    if os.path.isdir(out):
        old = out + ".old-%d" % os.getpid()
        os.rename(out, old)
        os.rename(work, out)
        shutil.rmtree(old)
    else:
        os.rename(work, out)


def generate(opts):
    """Write the demo tree to opts.out (atomically: a temporary folder beside it
    is renamed at the end). Returns the manifest."""
    out = os.path.abspath(opts.out)
    parent = os.path.dirname(out)
    check_out(opts, out)
    output_dir(parent)
    base = min(opts.size)
    faces = person_views(list(opts.micro_people) + list(opts.macro_people), base * FACE_IOD,
                         opts.photos_per_person)
    work = tempfile.mkdtemp(prefix=".demo-data-", dir=parent)
    try:
        tree = Tree(work)
        clips, landmark_rows = render_all(tree, faces, opts)
        casme2_sheets(tree, clips["casme2"])
        manifest = manifest_of(opts, faces, clips)
        tree.write("landmarks.csv", landmarks_csv(landmark_rows))
        tree.write(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        replace_folder(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest
