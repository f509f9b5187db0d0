"""Clips described by a coding sheet (CASME II, SAMM): one apex frame each,
classes I..V of the objective-class table."""
import os

from microattention.datasets.common import cell_text, list_frames, parse_int
from microattention.datasets.objective import KEPT, NAMES, ROMAN, classify, parse_class
from microattention.datasets.sheets import read_table

# Canonical column -> header texts seen in the releases (compared normalised).
CODING_COLUMNS = {
    "subject": ["Subject", "Subjects", "Participant"],
    "filename": ["Filename", "File Name", "Clip"],
    "onset": ["OnsetFrame", "Onset Frame", "Onset"],
    "apex": ["ApexFrame", "Apex Frame", "Apex", "ApexFrame1"],
    "offset": ["OffsetFrame", "Offset Frame", "Offset"],
    "au": ["Action Units", "ActionUnits", "AU", "AUs"],
    "emotion": ["Estimated Emotion", "Emotion"],
    "objective": ["Objective Classes", "Objective Class", "ObjectiveClass"],
}
OBJECTIVE_COLUMNS = {
    "subject": CODING_COLUMNS["subject"],
    "filename": CODING_COLUMNS["filename"],
    "objective": CODING_COLUMNS["objective"],
}

CLASS_ORDER = [(n, "%s (%s)" % (NAMES[n].capitalize(), ROMAN[n])) for n in range(1, 8)]


def read_objective(path, subject_key, col):
    """(subject, clip) -> class number from an objective-class sheet."""
    table = read_table(path, OBJECTIVE_COLUMNS, ["subject", "filename", "objective"])
    classes = {}
    for row_number, record in table.rows:
        subject = subject_key(record["subject"])
        clip = cell_text(record["filename"])
        try:
            number = parse_class(record["objective"])
        except ValueError as exc:
            col.bad(subject or "?", clip or "?", "bad objective class", "%s: %r: %s"
                    % (table.where(row_number), cell_text(record["objective"]), exc))
            continue
        if subject is None or not clip:
            col.bad("?", clip or "?", "bad sheet row", "%s: Subject %r, Filename %r"
                    % (table.where(row_number), cell_text(record["subject"]), clip))
            continue
        classes[(subject, clip)] = number
    col.note("classes from the objective-class sheet %s" % os.path.basename(path))
    return classes


def index_coded(col, table, subject_key, clip_dir, objective=None, derive=False):
    """Index the clips of a coding sheet.

    subject_key(cell) -> subject folder name (or None if not a subject);
    clip_dir(subject, clip) -> folder of the clip's frames;
    objective: (subject, clip) -> class from a separate sheet, or None;
    derive: ignore a shipped class column and use the AU strings.
    """
    use_column = objective is None and not derive and "objective" in table.columns
    if use_column:
        col.note("classes from the column '%s' of %s"
                 % (table.columns["objective"], os.path.basename(table.path)))
    elif objective is None:
        col.note("classes DERIVED FROM THE AU STRINGS (objective-class table), "
                 "not from the official objective-class labels")
    seen = set()
    for row_number, record in table.rows:
        where = table.where(row_number)
        clip = cell_text(record.get("filename"))
        subject = subject_key(record.get("subject"))
        if subject is None or not clip:
            col.bad("?", clip or "?", "bad sheet row", "%s: Subject %r, Filename %r"
                    % (where, cell_text(record.get("subject")), clip))
            continue
        if (subject, clip) in seen:
            col.bad(subject, clip, "duplicate row", "%s: %s/%s appears twice"
                    % (where, subject, clip))
            continue
        seen.add((subject, clip))
        au = cell_text(record.get("au"))

        # Objective class: shipped label first, the AU string as a fallback.
        number = None
        if objective is not None:
            number = objective.get((subject, clip))
            class_source = "objective-sheet"
            if number is None:
                col.bad(subject, clip, "no objective class",
                        "%s: %s/%s is not in the objective-class sheet" % (where, subject, clip))
        elif use_column:
            class_source = "objective-column"
            try:
                number = parse_class(record.get("objective"))
            except ValueError as exc:
                col.bad(subject, clip, "bad objective class", "%s: %s %r: %s" % (
                    where, table.columns["objective"], cell_text(record.get("objective")), exc))
        else:
            class_source = "au-derived"
            try:
                number, warning = classify(au)
                if warning:
                    col.warn("%s: Action Units %r: %s" % (where, au, warning))
            except ValueError as exc:
                col.bad(subject, clip, "bad AU string",
                        "%s: Action Units %r: %s" % (where, au, exc))
        col.saw_clip(subject, number)
        if number is None:
            continue
        if number not in KEPT:
            col.exclude(subject, clip, "class %s (%s)" % (ROMAN[number], NAMES[number]), where)
            continue

        folder = clip_dir(subject, clip)
        if not os.path.isdir(folder):
            col.bad(subject, clip, "missing clip folder", "%s: %s" % (where, folder))
            continue
        frames = list_frames(folder)
        if not frames:
            col.bad(subject, clip, "no frames", "%s: no images in %s" % (where, folder))
            continue
        onset = parse_int(record.get("onset"))
        offset = parse_int(record.get("offset"))
        apex = parse_int(record.get("apex"))
        if apex is not None and apex >= 0:
            apex_source = "annotated"
        else:
            # Missing, '/', '-1': the public loaders' convention is the midpoint.
            if onset is None or offset is None:
                col.bad(subject, clip, "no apex", "%s: apex %r, onset %r, offset %r" % (
                    where, cell_text(record.get("apex")), cell_text(record.get("onset")),
                    cell_text(record.get("offset"))))
                continue
            apex = onset + (offset - onset) // 2
            apex_source = "midpoint"
            raw = cell_text(record.get("apex"))
            col.warn("%s: %s; using the onset/offset midpoint %d" % (
                where, "apex %r is not a frame number" % raw if raw else "apex is missing",
                apex))
        if apex not in frames:
            col.bad(subject, clip, "apex outside stored frames",
                    "%s: apex %d, but %s holds frames %d..%d"
                    % (where, apex, folder, min(frames), max(frames)))
            continue
        path = os.path.join(folder, frames[apex])
        if not col.usable_image(subject, clip, path):
            continue
        col.add_row(subject=subject, clip=clip, label=NAMES[number],
                    objective_class=ROMAN[number], frame=apex, apex_source=apex_source,
                    onset=onset, offset=offset, frame_path=col.relpath(path),
                    class_source=class_source, au=au,
                    emotion=cell_text(record.get("emotion")).lower(),
                    source="%s:%s:%d" % (os.path.basename(table.path), table.sheet, row_number))
