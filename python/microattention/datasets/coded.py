"""Clips described by a coding sheet (CASME II, SAMM): one apex frame each,
classes I..V of the objective-class table."""
import os

from microattention.errors import UserError
from microattention.datasets.common import apex_not_stored
from microattention.datasets.files import is_folder
from microattention.datasets.objective import KEPT, NAMES, ROMAN, classify, parse_class
from microattention.datasets.sheets import cell_text, parse_int, read_table

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


def require_rows(table, what):
    """A sheet whose header is followed by no row is an error, not an empty
    index."""
    if not table.rows:
        raise UserError("%s, sheet %s: the %s has a header on row %d but no rows below it"
                        % (table.path, table.sheet, what, table.header_row))


def frame_cell(value):
    """(frame number, problem) of an onset/apex/offset cell. Blank, '/', '-',
    'n/a' and SAMM's -1 mean 'not coded': (None, None). Any other text, and
    other negative numbers (a stray minus sign before a real frame number), is
    a problem, never silently 'not coded'."""
    text = cell_text(value)
    number = parse_int(text)
    if number is not None:
        if number == NOT_CODED_NUMBER:
            return None, None
        if number < 0:
            return None, "%r is not a frame number (only %d means not coded)" % (
                text, NOT_CODED_NUMBER)
        return number, None
    if text.lower() in NOT_CODED:
        return None, None
    return None, "%r is not a frame number" % text


NOT_CODED = {"", "/", "-", "n/a", "na", "none"}
NOT_CODED_NUMBER = -1     # SAMM's apex of clips coded without one

# The 'Estimated Emotion' words of CASME II and SAMM. The column is kept in the
# index for reading, never used as the class; a word outside these is most
# likely misspelt, so it is a warning that names the row and the word.
EMOTIONS = {"happiness", "surprise", "disgust", "repression", "fear", "sadness", "others",
            "other", "anger", "contempt"}


def read_objective(path, subject_key, col):
    """(subject, clip) -> class number from an objective-class sheet."""
    table = read_table(col.read_input(path), OBJECTIVE_COLUMNS,
                       ["subject", "filename", "objective"])
    require_rows(table, "objective-class sheet")
    classes = {}
    rows = {}
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
        if (subject, clip) in classes and classes[(subject, clip)] != number:
            col.bad(subject, clip, "duplicate row", "%s: %s/%s has class %s here and %s "
                    "on row %d" % (table.where(row_number), subject, clip, ROMAN[number],
                                   ROMAN[classes[(subject, clip)]], rows[(subject, clip)]))
            continue
        classes[(subject, clip)] = number
        rows.setdefault((subject, clip), row_number)
    col.note("classes from the objective-class sheet %s" % os.path.basename(path))
    return classes


def check_keys(objective, objective_path, table, subject_key):
    """An objective-class sheet none of whose (subject, filename) keys names a
    clip of the coding sheet is the wrong file (another database, another
    naming): one error naming both files and an example of each key, rather
    than a "no objective class" line for every clip."""
    listed = [(subject_key(r.get("subject")), cell_text(r.get("filename")))
              for _, r in table.rows]
    if not objective or not listed or any(key in objective for key in listed):
        return
    theirs = sorted(objective)[0]
    ours = next((k for k in listed if k[0] and k[1]), ("?", "?"))
    raise UserError("%s: none of its %d subject/filename keys matches a clip of the coding "
                    "sheet %s (e.g. it has %s/%s, the coding sheet %s/%s); is it the "
                    "objective-class sheet of this database?"
                    % (objective_path, len(objective), table.path, theirs[0], theirs[1],
                       ours[0], ours[1]))


def index_coded(col, table, subject_key, clip_dir, objective=None, derive=False):
    """Index the clips of a coding sheet.

    subject_key(cell) -> subject folder name (or None if not a subject);
    clip_dir(subject, clip) -> folder of the clip's frames;
    objective: (subject, clip) -> class from a separate sheet, or None;
    derive: ignore a shipped class column and use the AU strings.
    """
    require_rows(table, "coding sheet")
    use_column = _class_origin(col, table, objective, derive)
    seen = {}
    for row_number, record in table.rows:
        where = table.where(row_number)
        key = _row_key(col, subject_key, record, where, seen, row_number)
        if key is None:
            continue
        subject, clip = key
        au = cell_text(record.get("au"))
        emotion = _emotion(col, table, record, where)
        number, class_source = _objective_class(col, table, record, where, key, au,
                                                objective, use_column)
        col.saw_clip(subject, number)
        if number is None:
            continue
        if number not in KEPT:
            col.exclude(subject, clip, "class %s (%s)" % (ROMAN[number], NAMES[number]), where)
            continue
        found = _apex_frame(col, table, record, where, key, clip_dir(subject, clip))
        if found is None:
            continue
        path, onset, apex, offset, apex_source = found
        if not col.usable_image(subject, clip, path):
            continue
        col.add_row(subject=subject, clip=clip, label=NAMES[number],
                    objective_class=ROMAN[number], frame=apex, apex_source=apex_source,
                    onset=onset, offset=offset, frame_path=col.relpath(path),
                    class_source=class_source, au=au,
                    emotion=emotion,
                    source="%s:%s:%d" % (os.path.basename(table.path), table.sheet, row_number))


def _class_origin(col, table, objective, derive):
    """True when the classes come from the coding sheet's own class column;
    notes where they come from (refuses to derive without an AU column)."""
    use_column = objective is None and not derive and "objective" in table.columns
    if use_column:
        col.note("classes from the column '%s' of %s"
                 % (table.columns["objective"], os.path.basename(table.path)))
    elif objective is None:
        if "au" not in table.columns:
            raise UserError("%s, sheet %s: no column %r (header on row %d), needed to derive "
                            "the objective classes from the AU strings" % (
                                table.path, table.sheet, CODING_COLUMNS["au"][0],
                                table.header_row))
        col.note("classes DERIVED FROM THE AU STRINGS (objective-class table), "
                 "not from the official objective-class labels")
    return use_column


def _row_key(col, subject_key, record, where, seen, row_number):
    """(subject, clip) of a sheet row, or None (recorded) for a bad or repeated one."""
    clip = cell_text(record.get("filename"))
    subject = subject_key(record.get("subject"))
    if subject is None or not clip:
        col.bad("?", clip or "?", "bad sheet row", "%s: Subject %r, Filename %r"
                % (where, cell_text(record.get("subject")), clip))
        return None
    if (subject, clip) in seen:
        col.bad(subject, clip, "duplicate row", "%s: %s/%s is already on row %d"
                % (where, subject, clip, seen[(subject, clip)]))
        return None
    seen[(subject, clip)] = row_number
    return subject, clip


def _emotion(col, table, record, where):
    """The row's emotion, lower case; a warning for one not in EMOTIONS."""
    emotion = cell_text(record.get("emotion")).lower()
    if emotion and emotion not in EMOTIONS:
        col.warn("%s: %s %r is not one of %s (misspelt?); kept as written, the class "
                 "comes from the objective classes" % (
                     where, table.columns.get("emotion", "emotion"),
                     cell_text(record.get("emotion")), ", ".join(sorted(EMOTIONS))))
    return emotion


def _objective_class(col, table, record, where, key, au, objective, use_column):
    """(class number or None, class_source) of a row.
    Objective class: shipped label first, the AU string as a fallback."""
    subject, clip = key
    number = None
    if objective is not None or use_column:
        if au:
            try:
                classify(au)
            except ValueError as exc:
                col.warn("%s: Action Units %r cannot be parsed (%s); the class comes "
                         "from the objective classes, not from it" % (where, au, exc))
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
    return number, class_source


def _frame_numbers(col, table, record, where, key):
    """(onset, apex, offset) of a row (None where not coded), or None
    (recorded) when a cell is not a frame number or onset > offset."""
    subject, clip = key
    cells = {}
    problems = []
    for name in ("onset", "apex", "offset"):
        cells[name], problem = frame_cell(record.get(name))
        if problem:
            problems.append("%s %s" % (table.columns.get(name, name), problem))
    if problems:
        col.bad(subject, clip, "bad frame number", "%s: %s" % (where, "; ".join(problems)))
        return None
    onset, apex, offset = cells["onset"], cells["apex"], cells["offset"]
    if onset is not None and offset is not None and onset > offset:
        col.bad(subject, clip, "onset after offset", "%s: onset %d > offset %d"
                % (where, onset, offset))
        return None
    return onset, apex, offset


def _apex_frame(col, table, record, where, key, folder):
    """(path, onset, apex, offset, apex_source) of a row's apex frame in
    `folder`, or None (recorded) when it cannot be found there."""
    subject, clip = key
    numbers = _frame_numbers(col, table, record, where, key)
    if numbers is None:
        return None
    onset, apex, offset = numbers
    if not is_folder(folder):
        col.bad(subject, clip, "missing clip folder", "%s: %s" % (where, folder))
        return None
    frames = col.frames(subject, clip, folder, numbered=True)
    if frames is None:
        return None
    if not frames:
        col.bad(subject, clip, "no frames", "%s: no images in %s" % (where, folder))
        return None
    if apex is not None:
        apex_source = "annotated"
    else:
        # Missing, '/', '-1': the public loaders' convention is the midpoint.
        if onset is None or offset is None:
            col.bad(subject, clip, "no apex", "%s: apex %r, onset %r, offset %r" % (
                where, cell_text(record.get("apex")), cell_text(record.get("onset")),
                cell_text(record.get("offset"))))
            return None
        apex = onset + (offset - onset) // 2
        apex_source = "midpoint"
        raw = cell_text(record.get("apex"))
        col.warn("%s: %s; using the onset/offset midpoint %d" % (
            where, "apex %r is not a frame number" % raw if raw else "apex is missing",
            apex))
    if apex not in frames:
        col.bad(subject, clip, "apex outside stored frames",
                "%s: %s" % (where, apex_not_stored(apex, frames, folder)))
        return None
    if (onset is not None and apex < onset) or (offset is not None and apex > offset):
        col.bad(subject, clip, "apex outside onset..offset", "%s: onset %s, apex %d, "
                "offset %s" % (where, "-" if onset is None else onset, apex,
                               "-" if offset is None else offset))
        return None
    return os.path.join(folder, frames[apex]), onset, apex, offset, apex_source


def unused_objective_rows(col, objective, table, key):
    """Warn about clips the objective-class sheet lists and the coding sheet
    does not (CASME II, SAMM)."""
    listed = {(key(r.get("subject")), cell_text(r.get("filename"))) for _, r in table.rows}
    extra = sorted(k for k in objective if k not in listed)
    if extra:
        col.warn("objective-class sheet lists %d clip(s) missing from the coding sheet: %s"
                 % (len(extra), ", ".join("%s/%s" % k for k in extra[:10])))
