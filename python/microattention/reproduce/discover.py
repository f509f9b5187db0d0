"""Which databases a user holds: each found under --data by its usual folder
name, or where --dataset NAME=PATH points; which of the paper's tables they
allow."""
import collections
import os
import re

from microattention.datasets import READERS
from microattention.errors import UserError

# index name -> the folder names it is found under (compared after
# normalise(): case, spaces, '-', '_' and '.' ignored). The first is the
# canonical name; the others are the names the releases use.
FOLDER_NAMES = collections.OrderedDict([
    ("casme2", ("casme2", "casmeii", "casme2cropped", "casme2raw")),
    ("samm", ("samm", "sammv1", "sammdata")),
    ("smic", ("smic", "smice", "smicehs", "smichs")),
    ("ckplus", ("ckplus", "ck+", "ck", "cohnkanadeplus", "cohnkanade")),
    ("oulu", ("oulu", "oulucasia", "oulucasianirvis", "oulucasianir&vis")),
    ("jaffe", ("jaffe", "jaffedbase")),
    ("mug", ("mug", "mugfed", "mugfacialexpressiondatabase")),
])
DISPLAY = {name: READERS[name].DISPLAY for name in FOLDER_NAMES}
MICRO = ("casme2", "samm", "smic")
MACRO = ("ckplus", "oulu", "jaffe", "mug")

# table -> (what makes it, the databases it needs: all of `needs`, or at
# least one of `any_of`). Tables 4 and 5 are one CDE run and one report.
Table = collections.namedtuple("Table", "number what needs any_of")
TABLES = collections.OrderedDict((t.number, t) for t in [
    Table(2, "HDE: train on CASME II test SAMM, and the reverse", ("casme2", "samm"), ()),
    Table(3, "parameters and caffe time of the three nets (no data)", (), ()),
    Table(4, "CDE: CASME II + SAMM pooled, leave one subject out", ("casme2", "samm"), ()),
    Table(5, "CDE confusion matrix (the same runs as Table 4)", ("casme2", "samm"), ()),
    Table(6, "LOSO on SAMM, CASME II and SMIC, each alone", (), ("samm", "casme2", "smic")),
])

Found = collections.namedtuple("Found", "present missing how")


def normalise(name):
    """A folder name compared case-insensitively, spaces and -_. ignored."""
    return re.sub(r"[\s_.\-]+", "", name).lower()


def parse_overrides(values):
    """{name: path} of the --dataset NAME=PATH values; a UserError naming
    the value when one is malformed, unknown, repeated or not a folder."""
    out = collections.OrderedDict()
    for value in values or ():
        name, sep, path = value.partition("=")
        name = name.strip().lower()
        if not sep or not name or not path:
            raise UserError("--dataset %r: write NAME=PATH, NAME one of %s"
                            % (value, ", ".join(FOLDER_NAMES)))
        if name not in FOLDER_NAMES:
            raise UserError("--dataset %s: unknown database %r; the names are those of "
                            "'index --dataset': %s" % (value, name, ", ".join(FOLDER_NAMES)))
        if name in out:
            raise UserError("--dataset %s is given twice (%s and %s)" % (name, out[name], path))
        if not os.path.exists(path):
            raise UserError("--dataset %s: %s does not exist" % (value, path))
        if not os.path.isdir(path):
            raise UserError("--dataset %s: %s is not a folder" % (value, path))
        out[name] = os.path.normpath(path)
    return out


def discover(data, overrides=None):
    """Found(present {name: path}, missing [names], how {name: text}): each
    database where --dataset points, else the one folder of --data whose
    name is one of its FOLDER_NAMES."""
    overrides = overrides or {}
    by_name = collections.defaultdict(list)
    if data is not None:
        if not os.path.isdir(data):
            raise UserError("--data %s is not a folder" % data)
        for entry in sorted(os.listdir(data)):
            path = os.path.join(data, entry)
            if not os.path.isdir(path):
                continue
            for name, names in FOLDER_NAMES.items():
                if normalise(entry) in names:
                    by_name[name].append(path)
    present, how = collections.OrderedDict(), {}
    for name in FOLDER_NAMES:
        if name in overrides:
            present[name], how[name] = overrides[name], "--dataset"
        elif len(by_name[name]) > 1:
            raise UserError("%s: several folders of --data %s could be it (%s); point at one "
                            "with --dataset %s=PATH" % (DISPLAY[name], data, ", ".join(
                                os.path.basename(p) for p in by_name[name]), name))
        elif by_name[name]:
            present[name], how[name] = os.path.normpath(by_name[name][0]), "found"
    missing = [n for n in FOLDER_NAMES if n not in present]
    return Found(present, missing, how)


def parse_tables(text):
    """The --tables value as sorted table numbers."""
    wanted = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) not in TABLES:
            raise UserError("--tables %s: %r is not a table this command makes (%s)"
                            % (text, part, ",".join(str(t) for t in TABLES)))
        wanted.append(int(part))
    if not wanted:
        raise UserError("--tables %r names no table" % text)
    return sorted(set(wanted))


def makeable(table, present):
    """(can it be made, the databases it lacks)."""
    t = TABLES[table]
    lacking = [n for n in t.needs if n not in present]
    if t.any_of and not any(n in present for n in t.any_of):
        lacking = list(t.any_of)
    return not lacking, lacking


def micro_sets(tables, present):
    """The micro-expression databases the chosen tables train on, as
    {'pooled': [casme2, samm] or [], 'loso': [...]}: HDE and CDE pool
    CASME II and SAMM; Table 6 takes each present database alone."""
    pooled = ["casme2", "samm"] if any(t in (2, 4, 5) for t in tables) else []
    loso = [n for n in ("casme2", "samm", "smic") if n in present] if 6 in tables else []
    return {"pooled": pooled, "loso": loso}


def summary_lines(found, tables):
    """What was found and which tables follow, as lines to print."""
    lines = ["databases:"]
    for name in FOLDER_NAMES:
        kind = "micro" if name in MICRO else "macro"
        if name in found.present:
            lines.append("  %-7s %-10s present  %s (%s)" % (name, DISPLAY[name],
                                                           found.present[name], found.how[name]))
        else:
            lines.append("  %-7s %-10s missing  (%s-expression set)" % (name, DISPLAY[name],
                                                                          kind))
    lines.append("tables:")
    for number in tables:
        ok, lacking = makeable(number, found.present)
        what = TABLES[number].what
        if ok and number == 6:
            absent = [DISPLAY[n] for n in TABLES[6].any_of if n not in found.present]
            if absent:
                what += "; columns of %s missing (no data)" % ", ".join(absent)
        lines.append("  Table %d: %s  (%s)" % (number, "will be made" if ok else
                                               "cannot be made, needs " + " and ".join(
                                                   DISPLAY[n] for n in lacking), what))
    macro = [DISPLAY[n] for n in MACRO if n in found.present]
    if macro and len(macro) < len(MACRO):
        lines.append("pre-training pools %s only; the paper pools CK+, Oulu-CASIA, JAFFE and "
                     "MUG (a deviation)" % ", ".join(macro))
    return lines
