"""Building one LMDB: the inputs (index, faces, sample selection), the
records' plan (resampling, augmentation, order: microattention/augment.py),
the worker pool that decodes and augments the faces, and the LMDB written
under a temporary name and installed with its JSON sidecar."""
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

from microattention import augment, files, locks, protocols
from microattention.train import disk
from microattention.datasets import macro, objective, smic
from microattention.datasets.common import sample_id
from microattention.errors import UserError
from microattention.lmdbs.records import datum_bytes


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


class ReplaceRefused(Exception):
    """build(replace=False) found an LMDB it would have to replace."""


def lock_path(out):
    return out.parent / ("." + out.name + ".lock")


def _remove_stale(out, locked, log):
    """Temporary folders of builds that were killed. They are named after
    their host and pid: holding the output's lock, every one is stale; without
    it (MA_NO_FLOCK), only one whose process is known to be gone (of this
    host) is removed, and another host's is named and left."""
    prefixes = tuple("." + out.name + part for part in (".building-", ".old-"))
    for entry in out.parent.iterdir():
        prefix = next((p for p in prefixes if entry.name.startswith(p)), None)
        if prefix is None:
            continue
        made_by = locks.parse_owner(entry.name[len(prefix):].split(".json")[0])
        if not locked:
            if made_by is None or not locks.process_gone(*made_by):
                log("left %s: made by %s, which may still run (remove it by hand when it "
                    "does not)" % (entry, "pid %d on %s" % made_by[::-1] if made_by
                                   else "an unknown process"))
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


def _initial_map_size(count, size):
    """Enough for `count` records of size x size: a value of that size takes
    whole overflow pages (disk.record_bytes), plus its share of leaf and
    branch pages (one page a record, more than enough)."""
    return count * (disk.record_bytes(size) + disk.PAGE) + (8 << 20)


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
        trash = out.parent / ("." + out.name + ".old-" + locks.owner())
        os.replace(str(out), str(trash))
    os.replace(str(tmp_dir), str(out))
    os.replace(str(tmp_sidecar), str(side))
    if trash is not None:
        shutil.rmtree(str(trash), ignore_errors=True)


# ------------------------------------------------------------------ build

def build(index, faces, out, protocol, split="train", samples=None, subjects=(),
          exclude_subjects=(), seed=0, val_fraction=VAL_FRACTION, skip_bad=False, force=False,
          progress=True, log=None, workers=None, replace=True):
    """Build one LMDB and its sidecar; returns the sidecar (a dict), with
    'reused' True when an identical earlier build was kept. With replace
    False, an existing LMDB that would have to be rebuilt raises
    ReplaceRefused (the caller first makes sure nobody reads it)."""
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
    inputs = [("--index", index), ("--faces", faces)]
    if samples:
        inputs.append(("--samples", samples))
    check_output(out, inputs)

    faces_csv = os.path.join(faces, FACES_CSV)
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
    # One builder per output, on any host: a second one waits, then reuses.
    with locks.FileLock(lock_path(out), "the LMDB %s" % out) as lock:
        if not lock.acquire(wait=False):
            log("waiting: another process is building %s" % out)
            lock.acquire()
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
        if not replace and (out.exists() or side.exists()):
            raise ReplaceRefused("%s holds another build (other inputs, seed or protocol)"
                                 % out)

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

        _remove_stale(out, lock.held, log)
        tmp_dir = out.parent / (".%s.building-%s" % (out.name, locks.owner()))
        tmp_sidecar = out.parent / (".%s.building-%s.json" % (out.name, locks.owner()))
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


