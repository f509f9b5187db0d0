"""Generate small copies of the seven databases with their official layouts,
sheets and documented quirks, for the index tests (not shipped as data).

Every generator returns a manifest (a dict) describing what it wrote, so that
tests compare the index with the generator's own plan instead of with
numbers typed twice. Class counts default to the paper's Table 1 (micro sets)
and to the image totals of section 4.1 (macro sets). Frames are tiny (8x8) and
clips short, so a whole tree is written in well under a second (MUG at its
full 8228 images takes a few seconds: ~85k hard links).
"""
import os
import random

import numpy as np

TABLE1 = {
    "casme2": {1: 25, 2: 15, 3: 99, 4: 26, 5: 20, 6: 1, 7: 69},
    "samm": {1: 24, 2: 13, 3: 20, 4: 8, 5: 3, 6: 7, 7: 84},
    "smic": {"positive": 51, "negative": 70, "surprise": 43},
}
NAMES = {1: "happiness", 2: "surprise", 3: "anger", 4: "disgust", 5: "sadness",
         6: "fear", 7: "others"}
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI", 7: "VII"}

# AU strings per objective class, in the forms the real sheets use, filed by
# hand under the class the objective-class table gives them (the generator
# never calls the parser: the class of a clip is the key below, so derived and
# shipped classes agree only if the parser does).
CASME2_AUS = {
    1: ["12", "6+12", "R12", "6+7+12", "L12", "7+12"],
    2: ["1+2", "25", "1+2+25", "5", "25+26"],
    3: ["4", "4+7", "R4", "4+5", "23", "17+24", "4+38", "4+7(unclear)"],
    4: ["9", "L10", "4+9", "4+7+10", "R10", "7+10"],
    5: ["15", "1+4", "15+17", "6+15"],
    6: ["20"],
    7: ["14", "12+14(unclear)", "R14", "17", "L14+17", "38"],
}
SAMM_AUS = {
    1: ["12", "R12 or L12", "6+12", "A12", "B6+B12", "7+12"],
    2: ["1+2", "5", "25", "25+26", "5+24"],
    3: ["4", "4+7", "23", "R4+L7", "4+5"],
    4: ["9", "10", "4+9"],
    5: ["15", "1+4", "R15"],
    6: ["20", "1+2+4"],
    7: ["A12 or A14", "14", "L14", "43", "12+14", "R2"],
}
CASME2_EMOTIONS = {1: "happiness", 2: "surprise", 3: "repression", 4: "disgust",
                   5: "sadness", 6: "fear", 7: "others"}

_ENCODED = {}


def image_bytes(ext, size=8):
    """The encoded bytes of a small gray gradient image (cached)."""
    import cv2
    key = (ext, size)
    if key not in _ENCODED:
        image = (np.arange(size * size, dtype=np.uint8).reshape(size, size) * 3)
        ok, data = cv2.imencode(ext, image)
        assert ok, ext
        _ENCODED[key] = data.tobytes()
    return _ENCODED[key]


def write_image(path, size=8):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(image_bytes(os.path.splitext(path)[1].lower(), size))


def write_frames(folder, names, size=8, link=False):
    """Write one image per name; with link=True all are hard links to the
    first (fast for the thousands of MUG frames)."""
    os.makedirs(folder, exist_ok=True)
    first = os.path.join(folder, names[0])
    write_image(first, size)
    for name in names[1:]:
        path = os.path.join(folder, name)
        if link:
            os.link(first, path)
        else:
            write_image(path, size)


def write_sheet(path, header, rows, preamble=(), order=None, sheet="Sheet1"):
    """An .xlsx (openpyxl) or .csv sheet. `preamble` rows go above the header
    (SAMM's free text); `order` permutes the columns (a release difference)."""
    if order is not None:
        header = [header[i] for i in order]
        rows = [[row[i] for i in order] for row in rows]
    if path.endswith(".csv"):
        import csv
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            for line in preamble:
                writer.writerow(line)
            writer.writerow(header)
            for row in rows:
                writer.writerow(["" if v is None else v for v in row])
        return
    import openpyxl
    book = openpyxl.Workbook()
    book.active.title = sheet
    ws = book.active
    for line in preamble:
        ws.append(list(line))
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    book.save(path)


def _class_list(counts):
    return [c for c, n in sorted(counts.items(), key=lambda kv: str(kv[0])) for _ in range(n)]


def _bad_clip_map(kept, bad):
    """Apply each requested bad quirk to a different kept clip."""
    return {quirk: kept[(7 * i + 3) % len(kept)] for i, quirk in enumerate(bad)}


# ---------------------------------------------------------------- CASME II
def _apex_cell(c, bad_map, beyond):
    """The coding sheet's apex cell for clip c, planning the quirks: a broken
    cell (the reader falls back to the onset/offset midpoint) or an apex
    `beyond` frames past the offset (outside the stored frames)."""
    c["apex_source"] = "annotated"
    cell = c["apex"]
    if "apex_cell" in c:
        cell = c["apex_cell"]
        c["apex_source"] = "midpoint"
        c["apex"] = c["onset"] + (c["offset"] - c["onset"]) // 2
    if c is bad_map.get("apex-outside"):
        cell = c["offset"] + beyond
    return cell


def casme2(root, counts=None, subjects=26, sheet_name="CASME2-coding-20190701.xlsx",
           objective=True, order=None, preamble=(), bad=(), frames=("raw", "cropped"),
           frames_per_clip=5):
    """CASME II tree. `bad` may hold 'apex-outside', 'missing-folder',
    'unreadable' (each applied to one kept clip)."""
    counts = counts or TABLE1["casme2"]
    classes = _class_list(counts)
    clips = []
    per_subject = {}
    for i, number in enumerate(classes):
        subject = i % subjects + 1
        per_subject[subject] = per_subject.get(subject, 0) + 1
        k = per_subject[subject]
        aus = CASME2_AUS[number]
        clips.append({"subject": subject, "clip": "EP%02d_%02d%s" % (k + 1, i % 7 + 1,
                                                                     "f" if i % 3 == 0 else ""),
                      "class": number, "au": aus[i % len(aus)],
                      "onset": 10 + (i % 40), "row": None})
    kept = [c for c in clips if c["class"] <= 5]
    # Benign quirks: apex '/' and apex missing fall back to the midpoint.
    kept[0]["apex_cell"] = "/"
    kept[1]["apex_cell"] = None
    bad_map = _bad_clip_map(kept[2:], bad)
    header = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
              "Action Units", "Estimated Emotion"]
    rows = []
    for c in clips:
        c["offset"] = c["onset"] + frames_per_clip - 1
        c["apex"] = c["onset"] + (frames_per_clip - 1) // 2 + (1 if c["class"] % 2 else 0)
        cell = _apex_cell(c, bad_map, beyond=50)
        rows.append([c["subject"], c["clip"], None, c["onset"], cell, c["offset"], None,
                     c["au"], CASME2_EMOTIONS[c["class"]]])
    os.makedirs(root, exist_ok=True)
    write_sheet(os.path.join(root, sheet_name), header, rows, preamble=preamble,
                order=order)
    if objective:
        write_sheet(os.path.join(root, "CASME2-ObjectiveClasses.xlsx"),
                    ["Subject", "Filename", "Objective Class"],
                    [[c["subject"], c["clip"], c["class"]] for c in clips])
    for c in clips:
        if c is bad_map.get("missing-folder"):
            continue
        numbers = range(c["onset"], c["offset"] + 1)
        for kind in frames:
            top, prefix = ("CASME2_RAW_selected", "img") if kind == "raw" \
                else ("Cropped", "reg_img")
            folder = os.path.join(root, top, "sub%02d" % c["subject"], c["clip"])
            write_frames(folder, ["%s%d.jpg" % (prefix, n) for n in numbers])
            if c is bad_map.get("unreadable"):
                with open(os.path.join(folder, "%s%d.jpg" % (prefix, c["apex"])), "wb") as h:
                    h.write(b"not an image")
    return {"clips": clips, "bad": {k: v["clip"] for k, v in bad_map.items()},
            "subjects_kept": sorted({"sub%02d" % c["subject"] for c in kept}),
            "kept": len(kept)}


# ---------------------------------------------------------------- SAMM
SAMM_PREAMBLE = [["SAMM Micro-Movement FACS codes"], ["Version 2"], [None],
                 ["Coded by two certified FACS coders."], [None], ["Notes:"],
                 ["Onset, apex and offset are frame numbers of the clip."],
                 [None], [None], [None], [None], [None], [None]]


def samm(root, counts=None, subjects=32, kept_subjects=20, order=None, preamble=None,
         bad=(), frames_per_clip=5, objective_column=True):
    """SAMM tree; the header is on row 14 (13 preamble rows) by default."""
    counts = counts or TABLE1["samm"]
    preamble = SAMM_PREAMBLE if preamble is None else preamble
    ids = ["%03d" % (6 + i) for i in range(subjects)]
    clips = []
    kept_i = dropped_i = 0
    seq = {}
    for number in _class_list(counts):
        if number <= 5:   # kept classes go to the first kept_subjects subjects
            subject = ids[kept_i % kept_subjects]
            kept_i += 1
        else:
            subject = ids[dropped_i % subjects]
            dropped_i += 1
        seq[subject] = seq.get(subject, 0) + 1
        aus = SAMM_AUS[number]
        n = len(clips)
        clips.append({"subject": subject, "clip": "%s_%d_%d" % (subject, seq[subject] % 3 + 1,
                                                               seq[subject]),
                      "class": number, "au": aus[n % len(aus)],
                      "onset": 4000 + 37 * n, "digits": 5 if n % 2 else 4})
    kept = [c for c in clips if c["class"] <= 5]
    kept[0]["apex_cell"] = -1
    kept[1]["apex_cell"] = None
    bad_map = _bad_clip_map(kept[2:], bad)
    header = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame",
              "Offset Frame", "Duration", "Type", "Action Units", "Notes",
              "Estimated Emotion", "Objective Classes"]
    rows = []
    for c in clips:
        c["offset"] = c["onset"] + frames_per_clip - 1
        c["apex"] = c["onset"] + 1 + (c["class"] % 3)
        cell = _apex_cell(c, bad_map, beyond=900)
        rows.append([c["subject"], c["clip"], 1, c["onset"], cell, c["offset"],
                     frames_per_clip, "Micro - 1/2", c["au"], None, NAMES[c["class"]],
                     c["class"] if objective_column else None])
    if not objective_column:
        header = header[:-1]
        rows = [r[:-1] for r in rows]
        if order is not None:
            order = [i for i in order if i < len(header)]
    os.makedirs(root, exist_ok=True)
    write_sheet(os.path.join(root, "SAMM_Micro_FACS_Codes_v2.xlsx"), header, rows,
                preamble=preamble, order=order, sheet="FACS_Movement_Only")
    for c in clips:
        if c is bad_map.get("missing-folder"):
            continue
        folder = os.path.join(root, "SAMM", c["subject"], c["clip"])
        names = ["%s_%0*d.jpg" % (c["subject"], c["digits"], n)
                 for n in range(c["onset"], c["offset"] + 1)]
        write_frames(folder, names)
        if c is bad_map.get("unreadable"):
            with open(os.path.join(folder, "%s_%0*d.jpg" % (c["subject"], c["digits"],
                                                            c["apex"])), "wb") as h:
                h.write(b"\x00garbage")
    return {"clips": clips, "bad": {k: v["clip"] for k, v in bad_map.items()},
            "subjects_kept": sorted({c["subject"] for c in kept}), "kept": len(kept),
            "subjects": ids}


# ---------------------------------------------------------------- SMIC
SMIC_CAMERAS = {"hs": ("HS", 20, [5, 10, 15, 17], {"positive": 51, "negative": 70,
                                                  "surprise": 43}),
                "vis": ("VIS", 8, [], {"positive": 28, "negative": 23, "surprise": 20}),
                "nir": ("NIR", 8, [], {"positive": 28, "negative": 23, "surprise": 20})}
SMIC_SHORT = {"positive": "po", "negative": "ne", "surprise": "sur"}


def smic(root, camera="hs", counts=None):
    """SMIC-E tree for one camera; HS has 20 subject folders of which 16 hold
    micro-expressions. Clip lengths vary so the middle frame is not trivial."""
    top, n_subjects, without, default_counts = SMIC_CAMERAS[camera]
    counts = counts or default_counts
    subjects = ["s%d" % i for i in range(1, n_subjects + 1) if i not in without]
    clips = []
    for label in ["positive", "negative", "surprise"]:
        for k in range(counts[label]):
            subject = subjects[(len(clips)) % len(subjects)]
            clips.append({"subject": subject, "label": label})
    seen = {}
    for i, c in enumerate(clips):
        key = (c["subject"], c["label"])
        seen[key] = seen.get(key, 0) + 1
        c["clip"] = "%s_%s_%02d" % (c["subject"], SMIC_SHORT[c["label"]], seen[key])
        length = 3 + i % 6
        start = 1 + 11 * (i % 5)
        c["frames"] = list(range(start, start + length))
        c["middle"] = start + (length - 1) // 2
        folder = os.path.join(root, "SMIC", top, c["subject"], "micro", c["label"], c["clip"])
        write_frames(folder, ["image%07d.bmp" % n for n in c["frames"]])
    # Non-micro clips and subjects without micro-expressions are not samples.
    for i in without[:2]:
        write_frames(os.path.join(root, "SMIC", top, "s%d" % i, "non_micro", "s%d_01" % i),
                     ["image0000001.bmp", "image0000002.bmp"])
    write_frames(os.path.join(root, "SMIC", top, subjects[0], "non_micro", "x_01"),
                 ["image0000001.bmp"])
    return {"clips": clips, "subjects": sorted({c["subject"] for c in clips})}


# ---------------------------------------------------------------- CK+
CKPLUS_COUNTS = {1: 45, 2: 18, 3: 59, 4: 25, 5: 69, 6: 28, 7: 83}  # 327 labelled


def ckplus(root, counts=None, unlabelled=12, subjects=123):
    """CK+ tree: labelled sequences (327 by default: 852 images of the five
    classes) and a few unlabelled ones."""
    counts = counts or CKPLUS_COUNTS
    codes = _class_list(counts) + [None] * unlabelled
    random.Random(4).shuffle(codes)
    plan = []
    per_subject = {}
    for i, code in enumerate(codes):
        subject = "S%03d" % (5 + i % subjects)
        per_subject[subject] = per_subject.get(subject, 0) + 1
        sequence = "%03d" % per_subject[subject]
        length = 4 + i % 4
        names = ["%s_%s_%08d.png" % (subject, sequence, n) for n in range(1, length + 1)]
        write_frames(os.path.join(root, "cohn-kanade-images", subject, sequence), names)
        if code is not None:
            folder = os.path.join(root, "Emotion", subject, sequence)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, names[-1][:-4] + "_emotion.txt"), "w") as handle:
                handle.write("   %.7e\n" % code)
        plan.append({"subject": subject, "sequence": sequence, "code": code,
                     "last": names[-3:]})
    return {"sequences": plan,
            "images": 3 * sum(1 for p in plan if p["code"] in (1, 3, 5, 6, 7))}


# ---------------------------------------------------------------- Oulu-CASIA
OULU_EXPRESSIONS = ["Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise"]


def oulu(root, subjects=80, frames=4):
    """Oulu-CASIA VL/Strong (used) plus a little of VL/Weak and NI/Strong
    (not used by the paper)."""
    for s in range(1, subjects + 1):
        for expression in OULU_EXPRESSIONS:
            folder = os.path.join(root, "OriginalImg", "VL", "Strong", "P%03d" % s, expression)
            write_frames(folder, ["%03d.jpeg" % n for n in range(frames)])
    for other in (("VL", "Weak"), ("NI", "Strong")):
        write_frames(os.path.join(root, "OriginalImg", other[0], other[1], "P001", "Anger"),
                     ["%03d.jpeg" % n for n in range(frames)])
    return {"images": subjects * 5 * 3, "subjects": subjects}


# ---------------------------------------------------------------- JAFFE
JAFFE_COUNTS = {"AN": 30, "DI": 29, "FE": 32, "HA": 31, "NE": 30, "SA": 31, "SU": 30}
JAFFE_SUBJECTS = ["KA", "KL", "KM", "KR", "MK", "NA", "NM", "TM", "UY", "YM"]


def jaffe(root, counts=None):
    """JAFFE: 213 images by default, 151 of the five classes."""
    counts = counts or JAFFE_COUNTS
    os.makedirs(root, exist_ok=True)
    image_id = 1
    names = []
    for code, n in sorted(counts.items()):
        for k in range(n):
            subject = JAFFE_SUBJECTS[k % len(JAFFE_SUBJECTS)]
            name = "%s.%s%d.%d.tiff" % (subject, code, k // len(JAFFE_SUBJECTS) + 1, image_id)
            write_image(os.path.join(root, name))
            names.append(name)
            image_id += 1
    with open(os.path.join(root, "README_FIRST.txt"), "w") as handle:
        handle.write("JAFFE\n")
    kept = sum(n for code, n in counts.items() if code not in ("FE", "NE"))
    return {"images": kept, "names": names}


# ---------------------------------------------------------------- MUG
MUG_KEPT = ["anger", "disgust", "happiness", "sadness", "surprise"]


def mug_plan(images):
    """Clip lengths whose default selection (length // 10 clamped to 6..10)
    adds up to `images`: about 8 frames per clip."""
    clips = max(1, round(images / 8.0))
    base, extra = divmod(images, clips)
    counts = [base + (1 if i < extra else 0) for i in range(clips)]
    assert all(6 <= n <= 10 for n in counts), counts
    # length // 10 == n; lengths 50..59 also give 6 (clamped), used for some n=6
    return [n * 10 + (i % 3) for i, n in enumerate(counts)], counts


def mug(root, images=8228, subjects=86, dropped=(("fear", 2), ("neutral", 2))):
    """MUG tree whose default index has `images` rows (8228 as in the paper)."""
    lengths, counts = mug_plan(images)
    base = os.path.join(root, "subjects3")
    takes = {}
    for i, length in enumerate(lengths):
        subject = "%03d" % (1 + i % subjects)
        expression = MUG_KEPT[(i // subjects) % len(MUG_KEPT)]
        take = takes.get((subject, expression), 0)
        takes[(subject, expression)] = take + 1
        write_frames(os.path.join(base, subject, expression, "take%03d" % take),
                     ["img_%04d.jpg" % n for n in range(1, length + 1)], link=True)
    for expression, n in dropped:
        for k in range(n):
            write_frames(os.path.join(base, "%03d" % (k + 1), expression, "take000"),
                         ["img_%04d.jpg" % f for f in range(1, 61)], link=True)
    return {"images": images, "clips": len(lengths), "counts": counts}


def edit_sheet(path, clip, values=None, delete=False, rename=None):
    """Change a generated .xlsx sheet in place: set {header: value} in the row
    of `clip` (column 'Filename'), or delete that row; `rename` maps header
    texts to new ones. Returns the 1-based sheet row of the clip."""
    import openpyxl
    book = openpyxl.load_workbook(path)
    ws = book.active
    header_row, columns = None, {}
    for row in ws.iter_rows():
        names = [c.value for c in row]
        if "Filename" in names:
            header_row = row[0].row
            columns = {name: i + 1 for i, name in enumerate(names) if name is not None}
            break
    assert header_row is not None, path
    for old, new in (rename or {}).items():
        ws.cell(row=header_row, column=columns[old]).value = new
    found = None
    if clip is not None:
        for r in range(header_row + 1, ws.max_row + 1):
            if ws.cell(row=r, column=columns["Filename"]).value == clip:
                found = r
                break
        assert found is not None, clip
        if delete:
            ws.delete_rows(found)
        for name, value in (values or {}).items():
            ws.cell(row=found, column=columns[name]).value = value
    book.save(path)
    return found


def run_index(capsys, *argv):
    """Run `index` in-process; returns (exit code, stdout, stderr)."""
    from microattention import cli
    code = cli.main(["index"] + [str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_rows(path):
    import csv
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
