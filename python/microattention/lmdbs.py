"""Write the Caffe LMDB of one split: Datum records (1 x H x W raw uint8 gray,
integer label) read in key order by the nets' Data layer.

Training splits are resampled to equal class sizes and augmented as the
protocol table says (protocols.PROTOCOLS[p].augmentation and .resample; how
the two combine is described in microattention/augment.py), then shuffled
with --seed; keys are %08d, so the LMDB order is the shuffled order. Test and
validation splits hold each face once, unaugmented, resized to the nets'
224x224 input. Pre-training holds out --val-fraction of the images (by class,
whole clips only) as --split val.

The LMDB is built under a temporary name and renamed when complete; a JSON
sidecar OUT.json lists every record (key, sample id, label, augmentation and
its drawn parameters), the class numbers, the class counts before and after
resampling, the seed and the protocol. A second run with the same inputs,
options and seed reuses the LMDB (--force rebuilds).

Class numbers (one table, CLASSES): micro (CASME II, SAMM) and macro (CK+,
Oulu-CASIA, JAFFE, MUG): 0 happiness, 1 surprise, 2 anger, 3 disgust,
4 sadness (the paper's Table 5 order); SMIC: 0 positive, 1 negative,
2 surprise.

'lmdb inspect DIR' prints the records per label and writes a contact sheet.
"""
import argparse
import collections
import csv
import hashlib
import io
import json
import os
import pathlib
import shutil
import signal
import struct
import sys
import time

from microattention import augment, files, protocols
from microattention.datasets import macro, objective, smic
from microattention.datasets.common import sample_id
from microattention.errors import UserError

# The class order of each dataset family: the Datum label is the position in
# the tuple. The one place where class numbers are assigned.
CLASSES = collections.OrderedDict([
    ("micro", tuple(objective.NAMES[n] for n in objective.KEPT)),
    ("macro", tuple(macro.LABELS)),
    ("smic", tuple(smic.LABELS)),
])
FAMILY = {"casme2": "micro", "samm": "micro", "smic": "smic",
          "ckplus": "macro", "oulu": "macro", "jaffe": "macro", "mug": "macro"}

VAL_FRACTION = 0.1          # paper 4.1: "1/10 of the images" for validation
FACES_CSV = "faces.csv"
SIDECAR_FORMAT = 1
BATCH_RECORDS = 256         # records per LMDB write transaction
PARALLEL_MIN = 3000         # fewer records are encoded in-process (a worker starts in 1-3 s)
CACHE_BYTES = 256 << 20     # decoded faces kept in memory (resampled sets repeat them)
INDEX_COLUMNS = ("dataset", "subject", "clip", "label", "frame")
FACES_COLUMNS = ("sample_id", "crop", "status")
LMDB_FILES = {"data.mdb", "lock.mdb"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

EXAMPLES = """\
examples:
  # LOSO fold of subject sub01 of CASME II (training side, then test side)
  python3 -m microattention lmdb --index casme2.csv --faces faces/casme2 \\
      --protocol loso --exclude-subjects sub01 --out lmdb/loso-sub01/train
  python3 -m microattention lmdb --index casme2.csv --faces faces/casme2 \\
      --protocol loso --split test --subjects sub01 --out lmdb/loso-sub01/test
  # pre-training on the pooled macro-expression index: 9/10 train, 1/10 val
  python3 -m microattention lmdb --index macro.csv --faces faces/macro \\
      --protocol pretrain --out lmdb/pretrain/train
  python3 -m microattention lmdb --index macro.csv --faces faces/macro \\
      --protocol pretrain --split val --out lmdb/pretrain/val
  # records per label and a contact sheet
  python3 -m microattention lmdb inspect lmdb/pretrain/train --out sheet.png
"""


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    parser.add_argument("action", nargs="?", choices=["inspect"],
                        help="'inspect DIR': counts per label and a contact sheet of an LMDB")
    parser.add_argument("lmdb_dir", nargs="?", metavar="DIR", help="the LMDB to inspect")
    parser.add_argument("--index", metavar="CSV", help="index CSV (the index command)")
    parser.add_argument("--faces", metavar="DIR",
                        help="folder written by the faces command (DIR/faces.csv)")
    parser.add_argument("--out", metavar="PATH",
                        help="the LMDB folder to write (its sidecar is PATH.json); "
                             "with inspect: the contact sheet PNG (default DIR.png)")
    parser.add_argument("--protocol", metavar="NAME",
                        help="one of %s: sets augmentation and resampling"
                             % ", ".join(protocols.NAMES))
    parser.add_argument("--split", choices=["train", "test", "val"], default="train",
                        help="train (resampled, augmented, shuffled), test, or val "
                             "(pre-training's held-out part); default train")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--samples", metavar="FILE",
                       help="use only these sample ids (one per line, or a CSV with a "
                            "sample_id column)")
    group.add_argument("--subjects", action="append", default=[], metavar="S[,S...]",
                       help="use only these subjects (SUBJECT or DATASET/SUBJECT)")
    group.add_argument("--exclude-subjects", action="append", default=[], metavar="S[,S...]",
                       help="use every subject but these (a leave-one-subject-out "
                            "training side)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the split, resampling, augmentation and order "
                             "(default 0)")
    parser.add_argument("--val-fraction", type=float, default=VAL_FRACTION,
                        help="pre-training: share of each class held out as val, whole "
                             "clips only (default %g)" % VAL_FRACTION)
    parser.add_argument("--skip-bad", action="store_true",
                        help="leave out samples without an ok face (listed and counted) "
                             "instead of failing")
    parser.add_argument("--force", action="store_true",
                        help="rebuild even when the sidecar shows the same inputs")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="processes decoding and augmenting faces (default: the CPUs, "
                             "at most 4); the output does not depend on it")
    parser.add_argument("--count", type=int, default=64,
                        help="inspect: records on the contact sheet (default 64)")


def run(args):
    if args.action == "inspect":
        given = [o for o, v in (("--index", args.index), ("--faces", args.faces),
                                ("--protocol", args.protocol)) if v]
        if given:
            raise UserError("inspect takes only DIR, --out and --count, not %s"
                            % ", ".join(given))
        if not args.lmdb_dir:
            raise UserError("inspect needs the LMDB folder: lmdb inspect DIR")
        inspect(args.lmdb_dir, args.out, count=args.count)
        return 0
    if args.lmdb_dir:
        raise UserError("unexpected argument %r (did you mean 'lmdb inspect %s'?)"
                        % (args.lmdb_dir, args.lmdb_dir))
    missing = [o for o, v in (("--index", args.index), ("--faces", args.faces),
                              ("--out", args.out), ("--protocol", args.protocol)) if not v]
    if missing:
        raise UserError("missing %s (see --help)" % ", ".join(missing))
    with files.terminate_as_interrupt():
        try:
            build(args.index, args.faces, args.out, args.protocol, split=args.split,
                  samples=args.samples, subjects=_split_list(args.subjects),
                  exclude_subjects=_split_list(args.exclude_subjects), seed=args.seed,
                  val_fraction=args.val_fraction, skip_bad=args.skip_bad, force=args.force,
                  workers=args.workers)
        except KeyboardInterrupt:
            sys.stderr.write("microattention lmdb: interrupted; nothing written to %s\n"
                             % args.out)
            return 130
    return 0


def _split_list(values):
    return [v.strip() for value in values or () for v in value.split(",") if v.strip()]


# ------------------------------------------------------------------ inputs

def read_index(path):
    """Rows of the index with their family and class number."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in INDEX_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise UserError("%s: not an index CSV, missing column(s) %s"
                                % (path, ", ".join(missing)))
            rows = list(reader)
    except OSError as exc:
        raise UserError("cannot read the index %s: %s" % (path, exc.strerror or exc))
    except UnicodeDecodeError:
        raise UserError("%s: not a UTF-8 CSV index" % path)
    if not rows:
        raise UserError("%s: the index has no rows" % path)
    families = collections.OrderedDict()
    for number, row in enumerate(rows, start=2):
        family = FAMILY.get(row["dataset"])
        if family is None:
            raise UserError("%s row %d: unknown dataset %r (expected one of %s)"
                            % (path, number, row["dataset"], ", ".join(sorted(FAMILY))))
        families.setdefault(family, row["dataset"])
        if row["label"] not in CLASSES[family]:
            raise UserError("%s row %d: label %r is not a class of %s (%s)"
                            % (path, number, row["label"], row["dataset"],
                               ", ".join(CLASSES[family])))
        row["_id"] = sample_id(row)
        row["_row"] = number
        row["_label"] = CLASSES[family].index(row["label"])
    if len(families) > 1:
        raise UserError("%s mixes datasets with different class sets (%s); build one LMDB "
                        "per family" % (path, ", ".join(
                            "%s: %s" % (d, f) for f, d in families.items())))
    seen = {}
    for row in rows:
        if row["_id"] in seen:
            raise UserError("%s rows %d and %d: the same sample %s twice"
                            % (path, seen[row["_id"]], row["_row"], row["_id"]))
        seen[row["_id"]] = row["_row"]
    return rows, next(iter(families))


def read_faces(folder):
    path = os.path.join(folder, FACES_CSV)
    if not os.path.isdir(folder):
        raise UserError("faces folder %s not found (write it with the faces command)" % folder)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in FACES_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise UserError("%s: missing column(s) %s" % (path, ", ".join(missing)))
            faces = {}
            for number, row in enumerate(reader, start=2):
                faces[row["sample_id"]] = (row["crop"], row["status"], number)
    except FileNotFoundError:
        raise UserError("%s not found: --faces must be a folder written by the faces command"
                        % path)
    except OSError as exc:
        raise UserError("cannot read %s: %s" % (path, exc.strerror or exc))
    return faces, path


def read_samples_file(path):
    """Sample ids, one per line ('#' comments), or the sample_id column of a CSV."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise UserError("cannot read --samples %s: %s" % (path, exc.strerror or exc))
    lines = [l.strip() for l in text.splitlines()]
    lines = [l for l in lines if l and not l.startswith("#")]
    if lines and "sample_id" in next(csv.reader([lines[0]])):
        ids = [r["sample_id"].strip() for r in csv.DictReader(io.StringIO(text))]
        ids = [i for i in ids if i]
    else:
        ids = lines
    if not ids:
        raise UserError("--samples %s lists no sample ids" % path)
    return ids


def select(rows, index_path, samples=None, subjects=(), exclude_subjects=()):
    if samples:
        ids = read_samples_file(samples)
        by_id = {r["_id"]: r for r in rows}
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise UserError("--samples %s: %d id(s) not in %s, e.g. %s"
                            % (samples, len(unknown), index_path, ", ".join(unknown[:5])))
        wanted = set(ids)
        return [r for r in rows if r["_id"] in wanted]
    names = subjects or exclude_subjects
    if not names:
        return list(rows)
    option = "--subjects" if subjects else "--exclude-subjects"
    known = {r["subject"] for r in rows} | {"%s/%s" % (r["dataset"], r["subject"]) for r in rows}
    unknown = [s for s in names if s not in known]
    if unknown:
        raise UserError("%s: subject(s) %s not in %s" % (option, ", ".join(unknown), index_path))
    names = set(names)

    def chosen(r):
        return r["subject"] in names or "%s/%s" % (r["dataset"], r["subject"]) in names
    return [r for r in rows if chosen(r) == bool(subjects)]


def _png_header(path):
    """(width, height, bit depth, colour type) of a PNG file, or None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(26)
    except OSError:
        return None
    if len(head) < 26 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    return width, height, depth, colour


def attach_faces(rows, faces, faces_dir, faces_csv, skip_bad):
    """Each row's crop path; rows without a usable face are errors, or with
    skip_bad are left out and returned as (sample id, reason)."""
    kept, bad = [], []
    for row in rows:
        entry = faces.get(row["_id"])
        if entry is None:
            reason = "not in %s" % faces_csv
        else:
            crop, status, number = entry
            path = os.path.join(faces_dir, crop)
            header = _png_header(path) if crop else None
            if status != "ok":
                reason = "face status %r in %s row %d" % (status, faces_csv, number)
            elif not crop or not os.path.isfile(path):
                reason = "crop %r of %s row %d not found" % (crop, faces_csv, number)
            elif header is None:
                reason = "crop %s is not a PNG" % path
            elif header != (augment.FACE_SIZE, augment.FACE_SIZE, 8, 0):
                reason = ("crop %s is %dx%d, %d-bit, PNG colour type %d; expected %dx%d "
                          "8-bit gray" % ((path,) + header + (augment.FACE_SIZE,) * 2))
            else:
                row["_crop"] = path
                kept.append(row)
                continue
        bad.append((row["_id"], reason))
    if bad and not skip_bad:
        shown = "\n  ".join("%s: %s" % b for b in bad[:20])
        more = "\n  ... and %d more" % (len(bad) - 20) if len(bad) > 20 else ""
        raise UserError("%d sample(s) of the index have no usable face:\n  %s%s\nRerun the "
                        "faces command, or use --skip-bad to leave them out (they are "
                        "counted)." % (len(bad), shown, more))
    return kept, bad


def validation_split(rows, fraction, seed):
    """Indices of the rows held out for validation: per class about `fraction`
    of the images, whole clips (dataset/subject/clip) only, clips drawn in a
    seeded order."""
    generator = augment.rng(seed, augment.STREAM_SPLIT)
    groups = collections.OrderedDict()
    for i, row in enumerate(rows):
        groups.setdefault((row["dataset"], row["subject"], row["clip"]), []).append(i)
    by_class = collections.defaultdict(list)
    for key, members in groups.items():
        labels = collections.Counter(rows[i]["_label"] for i in members)
        by_class[labels.most_common(1)[0][0]].append(key)
    held = set()
    for label in sorted(by_class):
        keys = sorted(by_class[label])
        images = sum(len(groups[k]) for k in keys)
        target = int(round(fraction * images))
        taken = 0
        for j in generator.permutation(len(keys)):
            size = len(groups[keys[j]])
            # take a clip when it brings the count closer to the target
            if abs(taken + size - target) < abs(taken - target):
                held.update(groups[keys[j]])
                taken += size
    return held


def _fingerprint(settings, rows):
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8"))
    for row in rows:
        digest.update(("\n%s\t%d\t" % (row["_id"], row["_label"])).encode("utf-8"))
        with open(row["_crop"], "rb") as handle:
            digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


# ------------------------------------------------------------------ outputs

def sidecar_path(out):
    return pathlib.Path(str(out).rstrip("/\\") + ".json")


def _is_lmdb_dir(path):
    return path.is_dir() and set(os.listdir(str(path))) <= LMDB_FILES


def check_output(out, inputs):
    """Refuse an output that is, or holds, an input, or an existing folder
    that is not an LMDB (it would be replaced)."""
    out = pathlib.Path(out)
    real = os.path.realpath(str(out))
    for option, path in inputs:
        other = os.path.realpath(str(path))
        if real == other or other.startswith(real.rstrip(os.sep) + os.sep):
            raise UserError("--out %s is %s input %s (%s); choose another output folder"
                            % (out, "the" if real == other else "a folder holding the",
                               path, option))
    if out.exists() and not _is_lmdb_dir(out):
        raise UserError("--out %s exists and is not an LMDB folder (only data.mdb/lock.mdb); "
                        "refusing to replace it" % out)
    files.check_outputs([sidecar_path(out)], [p for _, p in inputs],
                        {sidecar_path(out): "sidecar of --out"})
    files.output_dir(out.parent)


def _remove_stale(out):
    """Temporary folders of builds that were killed (their process is gone)."""
    prefixes = tuple("." + out.name + part for part in (".building-", ".old-"))
    for entry in out.parent.iterdir():
        prefix = next((p for p in prefixes if entry.name.startswith(p)), None)
        if prefix is not None:
            try:
                pid = int(entry.name[len(prefix):].split(".")[0])
                os.kill(pid, 0)
                continue  # still running
            except (ValueError, ProcessLookupError):
                pass
            except PermissionError:
                continue
            if entry.is_dir():
                shutil.rmtree(str(entry), ignore_errors=True)
            else:
                entry.unlink()


def _lmdb_count(path):
    import lmdb
    try:
        env = lmdb.open(str(path), readonly=True, lock=False)
    except lmdb.Error:
        return None
    try:
        return env.stat()["entries"]
    finally:
        env.close()


def _varint(value):
    out = bytearray()
    value &= (1 << 64) - 1   # negative int32/int64 are 10-byte varints in protobuf
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def datum_bytes(image, label):
    """A serialised caffe_pb2.Datum of a 2-D uint8 image: channels (1),
    height (2), width (3), data (4), label (5), written in field order as
    protobuf does (tests compare with caffe_pb2's own SerializeToString).
    Encoded here because importing caffe.proto imports all of pycaffe
    (seconds), and every worker would pay that."""
    height, width = image.shape
    data = image.tobytes()
    return b"".join([b"\x08\x01", b"\x10", _varint(height), b"\x18", _varint(width),
                     b"\x22", _varint(len(data)), data, b"\x28", _varint(int(label))])


def _initial_map_size(count, size, page=4096):
    """Enough for `count` records of size x size: a value of that size takes
    whole overflow pages, plus its share of leaf and branch pages."""
    per_record = (-(-(size * size + 64) // page) + 1) * page
    return count * per_record + (8 << 20)


def _write_lmdb(path, count, size, items, progress):
    """Write `count` (key, value) pairs from `items` in key order, in
    transactions of BATCH_RECORDS; the map grows when full."""
    import lmdb
    map_size = _initial_map_size(count, size)
    env = lmdb.open(str(path), map_size=map_size, subdir=True, sync=False, metasync=False,
                    readahead=False)
    try:
        batch = []

        def commit():
            nonlocal map_size
            while True:
                try:
                    with env.begin(write=True) as txn:
                        for key, value in batch:
                            txn.put(key, value, append=True)
                    break
                except lmdb.MapFullError:
                    map_size *= 2
                    env.set_mapsize(map_size)
            progress.update(len(batch))
            batch.clear()

        for item in items:
            batch.append(item)
            if len(batch) >= BATCH_RECORDS:
                commit()
        if batch:
            commit()
        env.sync(True)
    finally:
        env.close()
    # lock.mdb is not needed by readers opened read-only, but Caffe opens with
    # a lock; keep it (it is recreated anyway).


def _install(tmp_dir, tmp_sidecar, out):
    """Replace out and its sidecar by the finished build: the old sidecar
    goes first, so a crash in between never pairs a sidecar with another
    LMDB."""
    side = sidecar_path(out)
    if side.exists():
        side.unlink()
    trash = None
    if out.exists():
        trash = out.parent / ("." + out.name + ".old-%d" % os.getpid())
        os.replace(str(out), str(trash))
    os.replace(str(tmp_dir), str(out))
    os.replace(str(tmp_sidecar), str(side))
    if trash is not None:
        shutil.rmtree(str(trash), ignore_errors=True)


# ------------------------------------------------------------------ build

def build(index, faces, out, protocol, split="train", samples=None, subjects=(),
          exclude_subjects=(), seed=0, val_fraction=VAL_FRACTION, skip_bad=False, force=False,
          progress=True, log=None, workers=None):
    """Build one LMDB and its sidecar; returns the sidecar (a dict), with
    'reused' True when an identical earlier build was kept."""
    log = log or (lambda text: print(text, flush=True))
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise UserError("--workers %d: give at least 1" % workers)
    proto = protocols.get(protocol)
    protocol = proto.name      # a variant's settings are written out below
    if split == "val" and protocol != "pretrain":
        raise UserError("--split val is pre-training's held-out part; %s has train and test"
                        % protocol)
    if split == "test" and protocol == "pretrain":
        raise UserError("pre-training holds out --split val (the paper's 1/10), not test")
    if not 0 < val_fraction < 1:
        raise UserError("--val-fraction %g must lie between 0 and 1" % val_fraction)
    out = pathlib.Path(out)
    faces_csv = os.path.join(faces, FACES_CSV)
    inputs = [("--index", index), ("--faces", faces)]
    if samples:
        inputs.append(("--samples", samples))
    check_output(out, inputs)

    rows, family = read_index(index)
    rows = select(rows, index, samples, subjects, exclude_subjects)
    if not rows:
        raise UserError("no samples of %s are selected" % index)
    face_table, _ = read_faces(faces)
    rows, skipped = attach_faces(rows, face_table, faces, faces_csv, skip_bad)
    if not rows:
        raise UserError("none of the selected samples has a usable face in %s" % faces_csv)

    training = split == "train"
    if protocol == "pretrain":
        held = validation_split(rows, val_fraction, seed)
        rows = [r for i, r in enumerate(rows) if (i in held) == (split == "val")]
        if not rows:
            raise UserError("the %s split is empty (%d clips are too few for --val-fraction %g)"
                            % (split, len(held), val_fraction))
    names = CLASSES[family]
    augmentation = proto.augmentation if training else protocols.NO_AUGMENTATION
    resample_classes = bool(proto.resample and training)
    size = augment.FACE_SIZE if training else augment.TEST_SIZE
    settings = collections.OrderedDict([
        ("format", SIDECAR_FORMAT), ("augment_version", augment.VERSION),
        ("protocol", protocol), ("split", split), ("seed", int(seed)),
        ("val_fraction", val_fraction if protocol == "pretrain" else None),
        ("family", family), ("classes", list(names)),
        ("augmentation", augment.as_dict(augmentation)), ("resample", resample_classes),
        ("image_size", size),
    ])
    fingerprint = _fingerprint(settings, rows)
    side = sidecar_path(out)
    if not force and side.is_file() and _is_lmdb_dir(out):
        try:
            old = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if old.get("fingerprint") == fingerprint and _lmdb_count(out) == old.get("count"):
            log("reused %s: its sidecar shows the same inputs, seed and protocol "
                "(%d records; --force rebuilds)" % (out, old["count"]))
            old["reused"] = True
            return old

    labels = [r["_label"] for r in rows]
    if training:
        records = augment.plan(labels, augmentation, resample_classes, seed)
    else:
        records = [(i, collections.OrderedDict()) for i in range(len(rows))]
    before = collections.Counter(labels)
    after = collections.Counter(labels[i] for i in (
        augment.resample(labels, seed) if resample_classes else range(len(labels))))
    in_lmdb = collections.Counter(labels[i] for i, _ in records)

    sidecar = collections.OrderedDict(settings)
    sidecar["fingerprint"] = fingerprint
    sidecar["inputs"] = collections.OrderedDict([
        ("index", os.path.abspath(index)), ("faces", os.path.abspath(faces)),
        ("samples", os.path.abspath(samples) if samples else None),
        ("subjects", list(subjects)), ("exclude_subjects", list(exclude_subjects)),
        ("skip_bad", bool(skip_bad))])
    sidecar["class_numbers"] = collections.OrderedDict((n, i) for i, n in enumerate(names))

    def counts(counter):
        return collections.OrderedDict((n, counter.get(i, 0)) for i, n in enumerate(names))
    sidecar["class_counts_before"] = counts(before)
    sidecar["class_counts_after_resampling"] = counts(after)
    sidecar["class_counts_records"] = counts(in_lmdb)
    sidecar["skipped"] = [collections.OrderedDict([("sample_id", s), ("reason", r)])
                          for s, r in skipped]
    sidecar["samples"] = [collections.OrderedDict([
        ("sample_id", r["_id"]), ("label", r["_label"]), ("class", r["label"])]) for r in rows]
    sidecar["key_format"] = "%08d"
    sidecar["count"] = len(records)
    sidecar["records"] = [collections.OrderedDict([
        ("key", "%08d" % k), ("sample_id", rows[i]["_id"]), ("label", rows[i]["_label"]),
        ("augmentation", ops)]) for k, (i, ops) in enumerate(records)]
    for name in names:
        if training and before.get(names.index(name), 0) == 0:
            log("warning: class %s has no samples in this split" % name)

    _remove_stale(out)
    tmp_dir = out.parent / (".%s.building-%d" % (out.name, os.getpid()))
    tmp_sidecar = out.parent / (".%s.building-%d.json" % (out.name, os.getpid()))
    try:
        started = time.time()
        with _progress(len(records), progress, "lmdb %s" % out.name) as bar:
            _write_lmdb(tmp_dir, len(records), size,
                        _encode(rows, records, training, size, workers), bar)
        seconds = time.time() - started
        tmp_sidecar.write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")
        _install(tmp_dir, tmp_sidecar, out)
    finally:
        shutil.rmtree(str(tmp_dir), ignore_errors=True)
        if tmp_sidecar.exists():
            tmp_sidecar.unlink()
    log("wrote %s: %d records of %dx%d (%s %s, seed %d) in %.1f s, %.0f records/s"
        % (out, len(records), size, size, protocol, split, seed, seconds,
           len(records) / max(seconds, 1e-9)))
    log(_count_table(names, before, after, in_lmdb, resample_classes))
    if skipped:
        log("left out %d sample(s) without a usable face (listed in %s)"
            % (len(skipped), side))
    sidecar["reused"] = False
    sidecar["seconds"] = seconds
    return sidecar


def default_workers():
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def _count_table(names, before, after, records, resampled):
    lines = ["  %-3s %-12s %8s %10s %8s" % ("#", "class", "samples",
                                           "resampled" if resampled else "", "records")]
    for i, name in enumerate(names):
        lines.append("  %-3d %-12s %8d %10s %8d" % (
            i, name, before.get(i, 0), after.get(i, 0) if resampled else "", records.get(i, 0)))
    return "\n".join(lines)


def _progress(total, enabled, desc):
    from tqdm import tqdm
    return tqdm(total=total, unit="rec", desc=desc, file=sys.stderr, disable=not enabled,
                mininterval=0.5, dynamic_ncols=True)


_FACES = {}          # a worker's decoded faces: path -> image
_FACES_BYTES = [0]


def _face(path):
    import cv2
    image = _FACES.get(path)
    if image is None:
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if image is None or image.dtype != "uint8" or image.shape != (
                augment.FACE_SIZE, augment.FACE_SIZE):
            raise UserError("cannot read %s as a %dx%d 8-bit gray image"
                            % (path, augment.FACE_SIZE, augment.FACE_SIZE))
        if _FACES_BYTES[0] + image.nbytes <= CACHE_BYTES:
            _FACES[path] = image
            _FACES_BYTES[0] += image.nbytes
    return image


def _record(task):
    """Datum bytes of one record: (crop path, ops, training, size, label)."""
    path, ops, training, size, label = task
    face = _face(path)
    image = augment.apply(face, ops) if training else augment.resize_for_test(face, size)
    return datum_bytes(image, label)


def _worker_init():
    import cv2
    cv2.setNumThreads(1)                          # the pool is the parallelism
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C


def _encode(rows, records, training, size, workers):
    """(key, Datum bytes) of each record in order; with workers > 1 and
    enough records, the faces are decoded and augmented in a process pool
    (the draws are already made, so the bytes do not depend on it)."""
    tasks = ((rows[i]["_crop"], ops, training, size, rows[i]["_label"]) for i, ops in records)
    keys = (("%08d" % k).encode("ascii") for k in range(len(records)))
    if workers <= 1 or len(records) < PARALLEL_MIN:
        try:
            for key, task in zip(keys, tasks):
                yield key, _record(task)
        finally:
            _FACES.clear()
            _FACES_BYTES[0] = 0
        return
    import multiprocessing
    # spawn: a fresh interpreter per worker, safe even when the caller has
    # threads running (pycaffe's prefetchers in the tests)
    with multiprocessing.get_context("spawn").Pool(workers, _worker_init) as pool:
        for key, value in zip(keys, pool.imap(_record, tasks, chunksize=16)):
            yield key, value


# ------------------------------------------------------------------ inspect

def read_records(path):
    """(key, label, uint8 image C x H x W squeezed) of every record, in order."""
    import lmdb
    import numpy as np
    from microattention import nets
    pb = nets._pb()
    if not os.path.isfile(os.path.join(str(path), "data.mdb")):
        raise UserError("%s is not an LMDB folder (no data.mdb)" % path)
    env = lmdb.open(str(path), readonly=True, lock=False)
    try:
        with env.begin() as txn:
            for key, value in txn.cursor():
                datum = pb.Datum()
                datum.ParseFromString(value)
                if datum.encoded:
                    import cv2
                    image = cv2.imdecode(np.frombuffer(datum.data, np.uint8),
                                         cv2.IMREAD_UNCHANGED)
                else:
                    image = np.frombuffer(datum.data, np.uint8).reshape(
                        datum.channels, datum.height, datum.width)
                    image = image[0] if datum.channels == 1 else image.transpose(1, 2, 0)
                yield key.decode("ascii", "replace"), datum.label, image
    finally:
        env.close()


def inspect(path, png=None, count=64, columns=8, tile=128, log=None):
    import cv2
    import numpy as np
    log = log or print
    path = pathlib.Path(path)
    names = {}
    side = sidecar_path(path)
    if side.is_file():
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
            names = {int(v): k for k, v in meta.get("class_numbers", {}).items()}
        except (OSError, ValueError, AttributeError):
            names = {}
    png = pathlib.Path(png) if png else pathlib.Path(str(path).rstrip("/\\") + ".png")
    files.check_outputs([png], [path, side], {png: "--out"})
    counts = collections.Counter()
    tiles = []
    for key, label, image in read_records(path):
        counts[label] += 1
        if len(tiles) < count:
            small = cv2.resize(image, (tile, tile), interpolation=cv2.INTER_AREA)
            if small.ndim == 3:
                small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
            caption = np.full((18, tile), 255, np.uint8)
            cv2.putText(caption, "%s %d %s" % (key[-5:], label, names.get(label, "")),
                        (2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.36, 0, 1, cv2.LINE_AA)
            tiles.append(np.vstack([small, caption]))
    total = sum(counts.values())
    log("%s: %d records" % (path, total))
    log("  %-5s %-12s %8s" % ("label", "class", "records"))
    for label in sorted(counts):
        log("  %-5d %-12s %8d" % (label, names.get(label, "?"), counts[label]))
    if tiles:
        rows = -(-len(tiles) // columns)
        blank = np.full_like(tiles[0], 255)
        tiles += [blank] * (rows * columns - len(tiles))
        sheet = np.vstack([np.hstack(tiles[r * columns:(r + 1) * columns]) for r in range(rows)])
        ok, data = cv2.imencode(".png", sheet)
        files.atomic_write(png, data.tobytes())
        log("contact sheet of the first %d records: %s" % (min(total, count), png))
    return counts
