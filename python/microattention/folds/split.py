"""The folds of an evaluation protocol (paper 4.2: hde, cde, loso), made from
an index, checked (no subject on both sides of a fold), written as a fold
file (.json or .csv) and read back; the per-fold class counts. The protocols
and the fold-file formats are described in command.py (the folds command's
help)."""
import csv
import io
import json
from collections import Counter, OrderedDict

from microattention import protocols
from microattention.datasets import READERS
from microattention.datasets.classes import CLASSES, FAMILY
from microattention.datasets.objective import NAMES
from microattention.errors import UserError
from microattention.naming import natural_key

# the evaluation protocols of protocols.PROTOCOLS (pre-training has no folds)
PROTOCOLS = tuple(name for name in protocols.NAMES if name != "pretrain")
# HDE of the paper: these two databases, each in turn as the test set.
HDE_PAIR = ("casme2", "samm")
FORMAT = "microattention-folds/1"
CSV_COLUMNS = ["fold", "side", "sample_id", "dataset", "subject", "label"]


# ---------------------------------------------------------------- reading

def _sample_key(row):
    frame = str(row["frame"])
    return (natural_key(row["dataset"]), natural_key(row["subject"]), natural_key(row["clip"]),
            int(frame) if frame.isdigit() else -1, frame)


def _subject(row):
    return "%s/%s" % (row["dataset"], row["subject"])


def class_names(rows):
    """Class names in class-number order: the class table of the index's
    dataset family (datasets.classes, the one place class numbers are assigned:
    happiness, surprise, anger, disgust, sadness; SMIC positive, negative,
    surprise), so that fold files, LMDB labels and predictions agree. An index
    that mixes families or holds a dataset without a table keeps the readers'
    order of the labels present, unknown labels last."""
    datasets = {r["dataset"] for r in rows.values()}
    families = {FAMILY.get(d) for d in datasets}
    if len(families) == 1 and None not in families:
        return list(CLASSES[families.pop()])
    present = {r["label"] for r in rows.values()}
    order = []
    for dataset in sorted(datasets, key=natural_key):
        reader = READERS.get(dataset)
        for key, _ in getattr(reader, "CLASSES", []):
            label = NAMES.get(key, key) if isinstance(key, int) else key
            if label in present and label not in order:
                order.append(label)
    order.extend(sorted(present - set(order), key=natural_key))
    return order


# ---------------------------------------------------------------- folds

def make_folds(rows, protocol, index_path="index"):
    """[{fold, test_subjects, train, test}] for a protocol, naturally sorted."""
    if protocol not in PROTOCOLS:
        raise UserError("unknown protocol %r; expected one of %s"
                        % (protocol, ", ".join(PROTOCOLS)))
    datasets = sorted({r["dataset"] for r in rows.values()}, key=natural_key)
    ordered = sorted(rows, key=lambda k: _sample_key(rows[k]))
    if protocol == "hde":
        if set(datasets) != set(HDE_PAIR):
            missing = [d for d in HDE_PAIR if d not in datasets]
            extra = [d for d in datasets if d not in HDE_PAIR]
            problem = []
            if missing:
                problem.append("lacks %s" % " and ".join(missing))
            if extra:
                problem.append("also holds %s" % ", ".join(extra))
            raise UserError("--protocol hde needs an index pooling exactly %s; index %s %s "
                            "(it holds %s)" % (" and ".join(HDE_PAIR), index_path,
                                               " and ".join(problem), ", ".join(datasets)))
        folds = []
        for train_set, test_set in (HDE_PAIR, HDE_PAIR[::-1]):
            test = [k for k in ordered if rows[k]["dataset"] == test_set]
            folds.append(OrderedDict([
                ("fold", "%s-to-%s" % (train_set, test_set)),
                ("test_subjects", _subjects_of(rows, test)),
                ("train", [k for k in ordered if rows[k]["dataset"] == train_set]),
                ("test", test)]))
        return folds
    if protocol == "loso" and len(datasets) != 1:
        raise UserError("--protocol loso works within one dataset; index %s pools %s "
                        "(use --protocol cde for a pooled index, or index one dataset)"
                        % (index_path, ", ".join(datasets)))
    if protocol == "cde" and len(datasets) < 2:
        raise UserError("--protocol cde pools several datasets (CASME II + SAMM in the paper); "
                        "index %s holds only %s (use --protocol loso for one dataset)"
                        % (index_path, datasets[0]))
    subjects = sorted({(r["dataset"], r["subject"]) for r in rows.values()},
                      key=lambda s: (natural_key(s[0]), natural_key(s[1])))
    if len(subjects) < 2:
        raise UserError("index %s holds a single subject (%s/%s): leaving it out leaves "
                        "nothing to train on" % (index_path, subjects[0][0], subjects[0][1]))
    folds = []
    for dataset, subject in subjects:
        test = [k for k in ordered
                if rows[k]["dataset"] == dataset and rows[k]["subject"] == subject]
        held_out = set(test)
        folds.append(OrderedDict([
            ("fold", "%s_%s" % (dataset, subject)),
            ("test_subjects", ["%s/%s" % (dataset, subject)]),
            ("train", [k for k in ordered if k not in held_out]),
            ("test", test)]))
    ids = [f["fold"] for f in folds]
    if len(set(ids)) != len(ids):
        dup = sorted(i for i, n in Counter(ids).items() if n > 1)
        raise UserError("index %s: subjects give the same fold id %s (a '_' inside dataset "
                        "or subject names)" % (index_path, ", ".join(dup)))
    return folds


def _subjects_of(rows, keys):
    return sorted({_subject(rows[k]) for k in keys},
                  key=lambda s: [natural_key(p) for p in s.split("/", 1)])


def _subject_of_id(key):
    """dataset/subject of a sample id dataset/subject/clip/frame."""
    parts = key.split("/")
    if len(parts) < 4:
        raise ValueError(key)
    return "/".join(parts[:2])


def check_folds(folds, source):
    """Each fold has samples on both sides, no sample and no (dataset-
    qualified) subject on both sides, and fold ids are unique."""
    seen = set()
    for fold in folds:
        name = fold["fold"]
        if name in seen:
            raise UserError("%s: fold %s is listed twice" % (source, name))
        seen.add(name)
        for side in ("train", "test"):
            if not fold[side]:
                raise UserError("%s: fold %s has no %s samples" % (source, name, side))
        try:
            train_subjects = {_subject_of_id(k) for k in fold["train"]}
            test_subjects = {_subject_of_id(k) for k in fold["test"]}
        except ValueError as exc:
            raise UserError("%s: fold %s: %s is not a sample id dataset/subject/clip/frame"
                            % (source, name, exc))
        both = sorted(train_subjects & test_subjects)
        if both:
            raise UserError("%s: fold %s has subject(s) %s on both the training and the "
                            "test side" % (source, name, ", ".join(both)))
        if len(set(fold["train"])) != len(fold["train"]) or \
                len(set(fold["test"])) != len(fold["test"]):
            raise UserError("%s: fold %s lists a sample twice on one side" % (source, name))


# ---------------------------------------------------------------- writing

def to_json(folds, protocol, classes, index_sha256):
    document = OrderedDict([
        ("format", FORMAT), ("protocol", protocol), ("index_sha256", index_sha256),
        ("classes", list(classes)), ("folds", folds)])
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def to_csv(folds, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for fold in folds:
        for side in ("train", "test"):
            for key in fold[side]:
                row = rows[key]
                writer.writerow([fold["fold"], side, key, row["dataset"], row["subject"],
                                 row["label"]])
    return buffer.getvalue()


def read_folds(path):
    """A fold file (.json or .csv) back as (protocol or None, classes or None,
    folds); checked like a fresh split."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise UserError("fold file %s does not exist" % path)
    except UnicodeDecodeError:
        raise UserError("fold file %s is not UTF-8 text" % path)
    if path.lower().endswith(".json"):
        try:
            document = json.loads(text, object_pairs_hook=OrderedDict)
        except ValueError as exc:
            raise UserError("fold file %s is not valid JSON (%s)" % (path, exc))
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise UserError("fold file %s is not a %s document" % (path, FORMAT))
        folds = document.get("folds") or []
        if not isinstance(folds, list):
            raise UserError("fold file %s: 'folds' is not a list" % path)
        for number, fold in enumerate(folds, start=1):
            if not (isinstance(fold, dict) and isinstance(fold.get("fold"), str) and
                    all(isinstance(fold.get(side), list) and
                        all(isinstance(k, str) for k in fold[side])
                        for side in ("train", "test"))):
                raise UserError("fold file %s: fold %d needs a fold id and train and test "
                                "lists of sample ids" % (path, number))
        protocol, classes = document.get("protocol"), document.get("classes")
    else:
        reader = csv.DictReader(io.StringIO(text))
        if [c for c in CSV_COLUMNS[:3] if c not in (reader.fieldnames or [])]:
            raise UserError("fold file %s lacks the columns fold, side, sample_id" % path)
        by_fold = OrderedDict()
        for line, row in enumerate(reader, start=2):
            if row["side"] not in ("train", "test"):
                raise UserError("fold file %s row %d: side %r is not train or test"
                                % (path, line, row["side"]))
            fold = by_fold.setdefault(row["fold"], OrderedDict(
                [("fold", row["fold"]), ("train", []), ("test", [])]))
            fold[row["side"]].append(row["sample_id"])
        folds = list(by_fold.values())
        protocol, classes = None, None
    if not folds:
        raise UserError("fold file %s holds no folds" % path)
    check_folds(folds, "fold file %s" % path)
    for fold in folds:
        if "test_subjects" not in fold:
            fold["test_subjects"] = sorted({_subject_of_id(k) for k in fold["test"]},
                                           key=lambda s: [natural_key(p) for p in s.split("/")])
    return protocol, classes, folds


# ---------------------------------------------------------------- report

def counts_table(folds, rows, classes, protocol):
    """The per-fold class counts as text (cells train/test) and the warnings
    for folds whose training side lacks a class."""
    lines = []
    datasets = sorted({r["dataset"] for r in rows.values()}, key=natural_key)
    subjects = {_subject(r) for r in rows.values()}
    lines.append("%s: %d fold(s) over %d samples of %d subject(s) (%s); classes: %s" % (
        protocol.upper(), len(folds), len(rows), len(subjects), " + ".join(
            "%s %d" % (d, len({_subject(r) for r in rows.values() if r["dataset"] == d}))
            for d in datasets), ", ".join(classes)))
    width = max([len("fold")] + [len(f["fold"]) for f in folds])
    cell = max([9] + [len(c) for c in classes])
    lines.append("%-*s %6s %6s  %s" % (width, "fold", "train", "test",
                                        " ".join("%*s" % (cell, c) for c in classes)))
    warnings = []
    for fold in folds:
        train = Counter(rows[k]["label"] for k in fold["train"])
        test = Counter(rows[k]["label"] for k in fold["test"])
        lines.append("%-*s %6d %6d  %s" % (
            width, fold["fold"], len(fold["train"]), len(fold["test"]),
            " ".join("%*s" % (cell, "%d/%d" % (train[c], test[c])) for c in classes)))
        lacking = [c for c in classes if not train[c]]
        if lacking:
            warnings.append("fold %s: no training sample of class %s%s" % (
                fold["fold"], ", ".join(lacking),
                " (it has test samples of it)" if any(test[c] for c in lacking) else ""))
    lines.append("(class cells: training/test samples)")
    return "\n".join(lines) + "\n", warnings
