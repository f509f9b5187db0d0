"""MUG: clips go neutral -> apex -> neutral and the apex is not annotated;
the paper takes 6 to 10 frames around the apex (4.1: 8228 images).

Expected tree (ROOT = --root):
  ROOT/subjects3/001/happiness/take000/img_0001.jpg
  (ROOT may also hold the subject folders directly; a release without take
  folders, 001/happiness/img_0001.jpg, is read as one take.)
Apex: the middle frame of the clip, or the frame given by --mug-apex FILE (a
csv with columns subject, expression, take, apex).
Frames per clip (project choice, the paper gives only the range): with
--mug-frames LO-HI (default 6-10), n = clip length // 10 clamped to LO..HI,
centred on the apex; --mug-frames N takes N frames from every clip.
"""
import csv
import io
import os
import re

from microattention.errors import UserError
from microattention.datasets.common import apex_not_stored
from microattention.datasets.files import (find_dir, frame_number, is_folder, is_image,
                                           listdir, unreadable_below)
from microattention.naming import natural_key
from microattention.datasets.macro import add_frames, class_order

NAME = "mug"
DISPLAY = "MUG"
EXPRESSIONS = ["anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"]
DROPPED = ["fear", "neutral"]
CLASSES = class_order(DROPPED)
DEFAULT_FRAMES = "6-10"


def frame_range(text):
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text or DEFAULT_FRAMES)
    if not match:
        raise UserError("--mug-frames must be N or LO-HI (got %r)" % text)
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if low < 1 or high < low:
        raise UserError("--mug-frames: bad range %r" % text)
    return low, high


def frames_for(length, low, high):
    """How many frames to take from a clip of `length` frames."""
    return min(high, max(low, length // 10))


def apex_key(subject, expression, take):
    """The key of a clip in the apex file, so that '1', '01' and '001', and
    'take0', '0' and 'take000', name the same folder."""
    def number(text, prefix=""):
        text = text.strip().lower()
        if prefix and text.startswith(prefix):
            text = text[len(prefix):]
        return str(int(text)) if text.isdigit() else text
    # A release without take folders is one take: take 0.
    return (number(subject), expression.strip().lower(), number(take, "take") or "0")


def read_apex(path):
    """{apex_key: (apex frame, row number)} from the --mug-apex csv."""
    if not os.path.isfile(path):
        raise UserError("--mug-apex %s: %s" % (
            path, "not a file" if os.path.exists(path) else "no such file"))
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8-sig")
    except OSError as exc:
        raise UserError("--mug-apex %s: cannot read it: %s" % (path, exc.strerror or exc))
    except UnicodeDecodeError as exc:
        raise UserError("--mug-apex %s, line %d: byte 0x%02x is not UTF-8 text" % (
            path, exc.object[:exc.start].count(b"\n") + 1, exc.object[exc.start]))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    needed = ["subject", "expression", "take", "apex"]
    fields = {(f or "").strip().lower() for f in reader.fieldnames or []}
    missing = [n for n in needed if n not in fields]
    if missing:
        raise UserError("--mug-apex %s: no column %s (needs subject, expression, take, apex)"
                        % (path, ", ".join(missing)))
    apex = {}
    for row in reader:
        line = reader.line_num   # the file's line, also after blank lines
        if None in row:   # DictReader's key for cells beyond the header
            raise UserError("--mug-apex %s, row %d: more cells than the header has columns"
                            % (path, line))
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        if not any(row.values()):
            continue
        if not re.fullmatch(r"\d+", row.get("apex", "")):
            raise UserError("--mug-apex %s, row %d: apex %r is not a frame number"
                            % (path, line, row.get("apex", "")))
        key = apex_key(row.get("subject", ""), row.get("expression", ""), row.get("take", ""))
        if key in apex:
            raise UserError("--mug-apex %s, row %d: %s/%s/%s is already on row %d"
                            % (path, line, row["subject"], row["expression"], row["take"],
                               apex[key][1]))
        apex[key] = (int(row["apex"]), line)
    if not apex:
        raise UserError("--mug-apex %s: the file has a header but no rows" % path)
    return apex


def index(root, opts, col):
    low, high = frame_range(opts.mug_frames)
    apex_table = read_apex(col.read_input(opts.mug_apex)) if opts.mug_apex else None
    used = set()
    base = find_dir(root, ["subjects3", "subjects"], depth=1)
    if base is None:
        base = root
    subjects = sorted((d for d in listdir(base)
                       if re.fullmatch(r"\d+", d) and is_folder(os.path.join(base, d))),
                      key=natural_key)
    if not subjects:
        raise UserError("MUG: no subject folders (001, 002, ...) in %s; expected "
                        "subjects3/001/happiness/take000/img_0001.jpg%s"
                        % (base, unreadable_below(root, 1)))
    col.note("%s; %s frames per clip around the apex" % (
        col.relpath(base), "%d-%d" % (low, high) if high > low else str(low)))
    for subject in subjects:
        subject_dir = os.path.join(base, subject)
        for expression in sorted(listdir(subject_dir)):
            expression_dir = os.path.join(subject_dir, expression)
            if not is_folder(expression_dir):
                continue
            takes = sorted((d for d in listdir(expression_dir)
                            if is_folder(os.path.join(expression_dir, d))), key=natural_key)
            if not takes and not any(is_image(n) for n in listdir(expression_dir)):
                col.saw_clip(subject, None)
                col.bad(subject, "%s_%s" % (subject, expression), "empty class folder",
                        "%s holds no take folder and no image" % expression_dir)
                continue
            if not takes:
                takes = [""]
            for take in takes:
                clip = "_".join(p for p in (subject, expression, take) if p)
                folder = os.path.join(expression_dir, take) if take else expression_dir
                label = expression.lower() if expression.lower() in EXPRESSIONS else None
                apex = None
                if apex_table:
                    key = apex_key(subject, expression, take)
                    if key in apex_table:
                        apex = apex_table[key][0]
                        used.add(key)
                if col.labelled(subject, clip, label, folder, DROPPED):
                    _clip(col, subject, clip, label, folder, low, high, apex)
    if apex_table is not None:
        _check_apex_rows(col, opts.mug_apex, apex_table, used, base)
    else:
        col.note("apex: middle frame of every clip")


def _check_apex_rows(col, path, apex_table, used, base):
    """Rows of the apex file that name no clip: a warning when others match,
    an error when none does (a file for another copy or another layout)."""
    unmatched = sorted((row, key) for key, (_, row) in apex_table.items() if key not in used)
    if unmatched:
        shown_rows = "; ".join("row %d (subject %s, expression %s, take %s)" % ((row,) + key)
                               for row, key in unmatched[:10])
        if len(unmatched) > 10:
            shown_rows += "; ... and %d more" % (len(unmatched) - 10)
        if len(unmatched) == len(apex_table):
            raise UserError("--mug-apex %s: none of its %d row(s) matches a clip folder below "
                            "%s (expected subject/expression/take as in 001/anger/take000): %s"
                            % (path, len(unmatched), base, shown_rows))
        col.warn("--mug-apex %s: %d of %d row(s) match no clip folder below %s and were not "
                 "used: %s" % (path, len(unmatched), len(apex_table), base, shown_rows))
    annotated = len({r["clip"] for r in col.rows if r["apex_source"] == "annotated"})
    col.note("apex of %d clip(s) from %s, middle frame for the others"
             % (annotated, os.path.basename(path)))


def _clip(col, subject, clip, label, folder, low, high, apex):
    names = col.frames(subject, clip, folder, needed=low)
    if names is None:
        return
    if apex is None:
        centre, source = (len(names) - 1) // 2, "middle-frame"
    else:
        numbers = [frame_number(n) for n in names]
        if apex not in numbers:
            col.bad(subject, clip, "apex outside stored frames",
                    apex_not_stored(apex, [n for n in numbers if n is not None], folder))
            return
        centre, source = numbers.index(apex), "annotated"
    count = frames_for(len(names), low, high)
    start = min(max(0, centre - (count - 1) // 2), len(names) - count)
    add_frames(col, subject, clip, label, folder, names[start:start + count], source, None,
               onset=frame_number(names[0]), offset=frame_number(names[-1]))
