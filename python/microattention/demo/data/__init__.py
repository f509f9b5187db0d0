"""Generate the demo data: expression clips of real people's faces, from
photographs that installable packages ship (people.py: who, from where,
under which terms), in the CASME II layout (micro-expressions, OUT/casme2)
and the CK+ layout (macro-expressions, OUT/ckplus), for
`index --dataset casme2|ckplus --root OUT/...`. The micro (LOSO) people and
the macro (pre-training) people are disjoint; a person is one subject, their
photographs and the mirror images of those included. Same seed, same bytes.

Modules: people (the photographs, their regions, dlib's 68 points),
geometry (AU moves, pose, the warp's fixed points), warp (piecewise-affine
warp), layouts (the datasets' files); the AU table itself is microattention.aus,
mirror images are aam.mirror."""
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
#
# Output (OUT = --out):
#   OUT/casme2/CASME2-coding-20190701.xlsx, CASME2-ObjectiveClasses.xlsx,
#       Cropped/subNN/EPcc_kk/reg_imgN.jpg                 (micro set)
#   OUT/ckplus/cohn-kanade-images/SNNN/NNN/SNNN_NNN_0000000N.png,
#       Emotion/SNNN/NNN/SNNN_NNN_0000000N_emotion.txt    (macro set)
#   OUT/landmarks.csv   the 68 points of every written frame (x, y in pixels)
#   OUT/demo-data.json  the options and the plan of every clip (AUs, apex, ...)
#
# docs/demo-data-strip.png (rows: classes I-V; per person shown: micro apex
# and |micro apex - onset| x 4 of a photograph and of its mirror image) is
# made, from the project folder (e.g. docker run -w /opt/micro-attention ...), by
#   python3 -m microattention demo-data --out /workspace/demo-data --force --furrows 0.6 \
#       --strip docs/demo-data-strip.png
import json
import math
import os
import re
import shutil
import tempfile
from statistics import NormalDist

import numpy as np

from microattention.faces.aam import mirror as mirror_face
from microattention.faces.aus import CLASS_AUS, interocular
from microattention.errors import UserError
from microattention.datasets.objective import NAMES, ROMAN, parse_aus
from microattention.demo.data.furrows import darken, furrow_mask
from microattention.demo.data.geometry import (
    au_displacement, border_anchors, face_ring, pose_matrix, rotation, side_scales)
from microattention.demo.data.layouts import (
    Tree, casme2_sheets, ckplus_codes, encode, landmarks_csv)
from microattention.demo.data.people import (
    DEFAULT_MACRO, DEFAULT_MICRO, PEOPLE, check_people, load_photo, parse_people)
from microattention.demo.data.warp import SMALL_TRIANGLE, folds, piecewise_affine, triangulate
from microattention.faces.crop import transform

MANIFEST = "demo-data.json"
CLASSES = sorted(CLASS_AUS)


def clip_folder(dataset, subject, clip):
    """The frame folder of a clip, relative to OUT/<dataset>, as the manifest
    names it: CASME II Cropped/subNN/EPcc_kk (subject: its number), CK+
    cohn-kanade-images/SNNN/NNN (clip: SNNN_NNN)."""
    if dataset == "casme2":
        return "Cropped/sub%02d/%s" % (subject, clip)
    return "cohn-kanade-images/%s/%s" % (subject, clip[len(subject) + 1:])


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


# ------------------------------------------------------------------ faces
def person_views(names, iod, photos_per_person=None):
    """{person: [(view name, BGR image, (68, 2) points), ...]}: each chosen
    photograph of the person, then its mirror image (image flipped, points
    renumbered), each resized so that its eye distance is about `iod` pixels
    (the pose warp then works near scale 1). All views of a person belong to
    one subject."""
    import cv2
    found = {}
    for name in names:
        views = []
        for photo in PEOPLE[name].photos[:photos_per_person]:
            image, points = load_photo(photo)
            scale = 1.15 * iod / interocular(points)
            size = (max(1, int(round(image.shape[1] * scale))),
                    max(1, int(round(image.shape[0] * scale))))
            resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1
                                 else cv2.INTER_LINEAR)
            pts = (points + 0.5) * (np.array(size) / image.shape[1::-1]) - 0.5
            label = "%s/%s" % (name, os.path.basename(photo.member))
            if photo.crop:
                label += "@%d,%d" % photo.crop[:2]
            views.append((label, resized, pts))
            flipped, mirrored = mirror_face(resized, pts)
            views.append((label + "-mirrored", flipped, mirrored))
        found[name] = views
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


def render_clip(face, aus, plan, profile, size, noise, rng, gray=False, furrows=0.0,
                magnitude=1.0):
    """Frames (uint8) and their 68 points for one clip of one identity;
    `furrows` > 0 also darkens each AU's wrinkle lines (furrows.py) by
    furrows * frame intensity * the AU's intensity / `magnitude` (the clip's
    own intensity jitter, so no extra random draw)."""
    import cv2
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


def class_aus(number, k, variants=None):
    """The AU set of clip k of a class: its combinations taken in turn, the
    first `variants` of them only when that is given."""
    combos = CLASS_AUS[number][:variants] if variants else CLASS_AUS[number]
    return _aus(combos[k % len(combos)])


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
    images, points = render_clip(face, aus, plan, micro_profile(frames, apex_at), opts.size,
                                 opts.noise, rng, furrows=opts.furrows,
                                 magnitude=opts.magnitude_micro)
    subject = identity + 1
    name = "EP%02d_%02d" % (number, k + 1)
    folder = "casme2/" + clip_folder("casme2", subject, name)
    rows = []
    for offset, (image, pts) in enumerate(zip(images, points)):
        path = "%s/reg_img%d.jpg" % (folder, onset + offset)
        tree.write(path, encode(image, ".jpg"))
        rows.append((path, pts))
    clip = {"subject": subject, "clip": name, "person": person, "view": face[0],
            "mirrored": face[0].endswith("-mirrored"), "class": ROMAN[number],
            "label": NAMES[number], "aus": au_string(aus), "onset": onset,
            "apex": onset + apex_at, "offset": onset + frames - 1, "frames": frames}
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
    subject = "S%03d" % (5 + identity)
    seq = "%03d" % (CLASSES.index(number) * opts.macro_clips + k + 1)
    name = "%s_%s" % (subject, seq)
    folder = "ckplus/" + clip_folder("ckplus", subject, name)
    rows = []
    for n, (image, pts) in enumerate(zip(images, points), start=1):
        path = "%s/%s_%08d.png" % (folder, name, n)
        tree.write(path, encode(image, ".png"))
        rows.append((path, pts))
    code = ckplus_codes()[number]
    tree.write("ckplus/Emotion/%s/%s/%s_%08d_emotion.txt"
               % (subject, seq, name, len(images)), "   %.7e\n" % code)
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
    import cv2
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


def _rounded(plan):
    return {"centre": [round(v, 3) for v in plan["centre"]], "iod": round(plan["iod"], 3),
            "degrees": round(plan["degrees"], 3),
            "intensity": {str(a): round(v, 4) for a, v in plan["intensity"].items()},
            "gain": round(plan["gain"], 4), "bias": round(plan["bias"], 3),
            "shrunk": plan.get("shrunk", 0)}


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
    faces = person_views(list(opts.micro_people) + list(opts.macro_people), base * FACE_IOD,
                         opts.photos_per_person)
    work = tempfile.mkdtemp(prefix=".demo-data-", dir=parent)
    try:
        tree = Tree(work)
        clips, landmark_rows = render_all(tree, faces, opts)
        casme2_sheets(tree, clips["casme2"])
        manifest = {
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
def strip_image(out, manifest, shown=("obama", "lenna"), tile=96):
    """A gray picture, one row per class; for each person shown (micro people
    whose photographs may be committed: people.PEOPLE[...].public): the
    micro apex, |micro apex - onset| x 4 (the subtle motion) and the micro
    apex of the first and second views (photograph and mirror image)."""
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

    people = [p for p in shown if p in manifest["people"]["micro"]]
    if not people:
        raise UserError("--strip: none of %s is a micro person of this demo data (%s)"
                        % (", ".join(shown), ", ".join(manifest["people"]["micro"])))
    gap = 6
    rows = []
    for number in CLASSES:
        cells = []
        for person in people:
            clips = [c for c in manifest["casme2"] if c["class"] == ROMAN[number]
                     and c["person"] == person][:2]          # a photograph, its mirror image
            for micro in clips:
                folder = "casme2/Cropped/sub%02d/%s/" % (micro["subject"], micro["clip"])
                onset, window = crop(folder + "reg_img%d.jpg" % micro["onset"])
                # The apex in the onset's window, so that the difference shows motion.
                apex, _ = crop(folder + "reg_img%d.jpg" % micro["apex"], window)
                diff = np.clip(np.abs(apex.astype(int) - onset.astype(int)) * 4, 0, 255)
                cells += [apex, diff.astype(np.uint8)]
            cells.append(np.full((tile, gap), 255, np.uint8))
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
    parser.add_argument("--micro-people", default=",".join(DEFAULT_MICRO), metavar="NAMES",
                        help="people of the micro (CASME II, LOSO) set, one subject each "
                             "(default: %(default)s; all: " + ",".join(PEOPLE) + ")")
    parser.add_argument("--macro-people", default=",".join(DEFAULT_MACRO), metavar="NAMES",
                        help="people of the macro (CK+, pre-training) set, none of the "
                             "micro people (default: the others, %d)" % len(DEFAULT_MACRO))
    parser.add_argument("--photos-per-person", type=int, default=None, metavar="N",
                        help="use at most N photographs of each person (default: all); "
                             "each is also used mirrored, as the same subject")
    parser.add_argument("--micro-clips", type=int, default=4, metavar="N",
                        help="CASME II clips per person and class, their photographs and "
                             "mirror images in turn (default: %(default)s)")
    parser.add_argument("--macro-clips", type=int, default=2, metavar="N",
                        help="CK+ sequences per person and class (default: %(default)s)")
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
                        help="scale of the per-clip head-pose (position %.0f%%%%, size %.0f%%%%, "
                             "roll %g deg) and brightness jitters; 0 = every clip of a face "
                             "in the same pose (default: %%(default)s)"
                        % (100 * POSITION_JITTER, 100 * SCALE_JITTER, ROTATION_JITTER))
    parser.add_argument("--au-variants", type=int, default=None, metavar="N",
                        help="AU combinations per class taken in turn by its clips, 1-%d "
                             "(default: all %d; 1 = one combination per class)"
                        % (min(len(v) for v in CLASS_AUS.values()), len(CLASS_AUS[1])))
    parser.add_argument("--furrows", type=float, default=0.0, metavar="D",
                        help="also draw each AU's wrinkles and furrows (FACS appearance "
                             "changes, demodata/furrows.py) as dark lines, darkening by D "
                             "(0-0.9) at full intensity; 0 = movement only "
                             "(default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="worker processes (default: the usable cores, at most 2; "
                             "the output does not depend on it)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing demo-data folder")
    parser.add_argument("--strip", metavar="PNG",
                        help="also write a picture of apex frames per class")


def check_options(opts):
    opts.size = _size(opts.size) if isinstance(opts.size, str) else tuple(opts.size)
    opts.micro_people = parse_people(opts.micro_people, "--micro-people")
    opts.macro_people = parse_people(opts.macro_people, "--macro-people")
    check_people(opts.micro_people, opts.macro_people)
    if opts.photos_per_person is not None and opts.photos_per_person < 1:
        raise UserError("--photos-per-person %d: must be at least 1" % opts.photos_per_person)
    for name, low in (("micro_clips", 1), ("macro_clips", 1), ("micro_frames", 3),
                      ("macro_frames", 3)):
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
    if not 0 <= opts.furrows <= 0.9:
        raise UserError("--furrows %g: choose 0 to 0.9 (the darkening of a line at full "
                        "intensity)" % opts.furrows)
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
    print("demo data in %s: %d micro people (LOSO), %d macro people (pre-training), %d CASME II "
          "clips, %d CK+ sequences, %d frames (%.1f s)"
          % (opts.out, len(opts.micro_people), len(opts.macro_people), len(manifest["casme2"]),
                        len(manifest["ckplus"]), frames, seconds))
    print("index them with:\n  python3 -m microattention index --dataset casme2 --root %s\n"
          "  python3 -m microattention index --dataset ckplus --root %s"
          % (os.path.join(opts.out, "casme2"), os.path.join(opts.out, "ckplus")))
    if opts.strip:
        from microattention.files import atomic_write
        atomic_write(opts.strip, encode(strip_image(opts.out, manifest), ".png"))
        print("strip of apex frames: %s" % opts.strip)
    return 0
