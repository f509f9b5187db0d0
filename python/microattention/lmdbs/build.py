"""Building one LMDB: the records' plan (pre-training's held-out part,
resampling, augmentation, order: microattention/augment.py), the sidecar that
describes it, and the build itself, under the output's lock: reuse of an
identical earlier build, or the records encoded (encoding.py) and written
(writer.py) under a temporary name and installed with the sidecar."""
import collections
import hashlib
import json
import os
import pathlib
import shutil
import sys
import time

from tqdm import tqdm

from microattention import augment, files, locks, protocols
from microattention.datasets.classes import CLASSES
from microattention.errors import UserError
from microattention.lmdbs.encoding import default_workers, encode
from microattention.lmdbs.inputs import FACES_CSV, attach_faces, read_faces, read_index, select
from microattention.lmdbs.writer import (ReplaceRefused, check_output, install, is_lmdb_dir,
                                         lmdb_count, lock_path, remove_stale, sidecar_path,
                                         write_lmdb)

VAL_FRACTION = 0.1          # paper 4.1: "1/10 of the images" for validation
SIDECAR_FORMAT = 1


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
    _check_split(protocol, split, val_fraction)
    out = pathlib.Path(out)
    inputs = [("--index", index), ("--faces", faces)]
    if samples:
        inputs.append(("--samples", samples))
    check_output(out, inputs)

    rows, family, skipped = _rows(index, faces, samples, subjects, exclude_subjects, skip_bad)
    if protocol == "pretrain":
        rows = _pretrain_side(rows, split, val_fraction, seed)
    settings, augmentation = _settings(proto, split, seed, val_fraction, family)
    fingerprint = _fingerprint(settings, rows)
    given = collections.OrderedDict([
        ("index", os.path.abspath(index)), ("faces", os.path.abspath(faces)),
        ("samples", os.path.abspath(samples) if samples else None),
        ("subjects", list(subjects)), ("exclude_subjects", list(exclude_subjects)),
        ("skip_bad", bool(skip_bad))])
    # One builder per output, on any host: a second one waits, then reuses.
    with locks.FileLock(lock_path(out), "the LMDB %s" % out) as lock:
        if not lock.acquire(wait=False):
            log("waiting: another process is building %s" % out)
            lock.acquire()
        old = None if force else _reusable(out, fingerprint)
        if old is not None:
            log("reused %s: its sidecar shows the same inputs, seed and protocol "
                "(%d records; --force rebuilds)" % (out, old["count"]))
            old["reused"] = True
            return old
        if not replace and (out.exists() or sidecar_path(out).exists()):
            raise ReplaceRefused("%s holds another build (other inputs, seed or protocol)"
                                 % out)
        records, counts = _plan(rows, split == "train", augmentation, settings["resample"],
                                seed)
        sidecar = _sidecar(settings, fingerprint, given, rows, records, counts, skipped)
        return _write(out, rows, records, counts, sidecar, skipped, lock.held,
                      workers, progress, log)


def _check_split(protocol, split, val_fraction):
    """The splits a protocol has: pre-training train and val, the others
    train and test."""
    if split == "val" and protocol != "pretrain":
        raise UserError("--split val is pre-training's held-out part; %s has train and test"
                        % protocol)
    if split == "test" and protocol == "pretrain":
        raise UserError("pre-training holds out --split val (the paper's 1/10), not test")
    if not 0 < val_fraction < 1:
        raise UserError("--val-fraction %g must lie between 0 and 1" % val_fraction)


def _settings(proto, split, seed, val_fraction, family):
    """What the records depend on besides the faces (the fingerprint's and the
    sidecar's first entries), and the augmentation setting of the split."""
    training = split == "train"
    augmentation = proto.augmentation if training else protocols.NO_AUGMENTATION
    resample_classes = bool(proto.resample and training)
    size = augment.FACE_SIZE if training else augment.TEST_SIZE
    settings = collections.OrderedDict([
        ("format", SIDECAR_FORMAT), ("augment_version", augment.VERSION),
        ("protocol", proto.name), ("split", split), ("seed", int(seed)),
        ("val_fraction", val_fraction if proto.name == "pretrain" else None),
        ("family", family), ("classes", list(CLASSES[family])),
        ("augmentation", augment.as_dict(augmentation)), ("resample", resample_classes),
        ("image_size", size),
    ])
    return settings, augmentation


def _rows(index, faces, samples, subjects, exclude_subjects, skip_bad):
    """The selected rows of the index that have a usable face, their family,
    and the (sample id, reason) of those left out."""
    faces_csv = os.path.join(faces, FACES_CSV)
    rows, family = read_index(index)
    rows = select(rows, index, samples, subjects, exclude_subjects)
    if not rows:
        raise UserError("no samples of %s are selected" % index)
    face_table, _ = read_faces(faces)
    rows, skipped = attach_faces(rows, face_table, faces, faces_csv, skip_bad)
    if not rows:
        raise UserError("none of the selected samples has a usable face in %s" % faces_csv)
    return rows, family, skipped


def _pretrain_side(rows, split, val_fraction, seed):
    """Pre-training's rows of one side: the held-out clips (val) or the rest."""
    held = validation_split(rows, val_fraction, seed)
    rows = [r for i, r in enumerate(rows) if (i in held) == (split == "val")]
    if not rows:
        raise UserError("the %s split is empty (%d clips are too few for --val-fraction %g)"
                        % (split, len(held), val_fraction))
    return rows


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


def _reusable(out, fingerprint):
    """The sidecar of an earlier build of out with the same fingerprint whose
    LMDB holds all its records, or None."""
    side = sidecar_path(out)
    if not (side.is_file() and is_lmdb_dir(out)):
        return None
    try:
        old = files.read_json(side) or {}
    except UserError:       # damaged: built again
        old = {}
    if old.get("fingerprint") == fingerprint and lmdb_count(out) == old.get("count"):
        return old
    return None


def _plan(rows, training, augmentation, resample_classes, seed):
    """The records, (row index, augmentation ops) in LMDB order, and the class
    counts (before resampling, after it, in the LMDB)."""
    labels = [r["_label"] for r in rows]
    if training:
        records = augment.plan(labels, augmentation, resample_classes, seed)
    else:
        records = [(i, collections.OrderedDict()) for i in range(len(rows))]
    before = collections.Counter(labels)
    after = collections.Counter(labels[i] for i in (
        augment.resample(labels, seed) if resample_classes else range(len(labels))))
    in_lmdb = collections.Counter(labels[i] for i, _ in records)
    return records, (before, after, in_lmdb)


def _sidecar(settings, fingerprint, given, rows, records, counts, skipped):
    """The JSON sidecar: the settings, the inputs, the class numbers and
    counts, the samples and every record with its augmentation."""
    names = CLASSES[settings["family"]]
    before, after, in_lmdb = counts
    sidecar = collections.OrderedDict(settings)
    sidecar["fingerprint"] = fingerprint
    sidecar["inputs"] = given
    sidecar["class_numbers"] = collections.OrderedDict((n, i) for i, n in enumerate(names))

    def per_class(counter):
        return collections.OrderedDict((n, counter.get(i, 0)) for i, n in enumerate(names))
    sidecar["class_counts_before"] = per_class(before)
    sidecar["class_counts_after_resampling"] = per_class(after)
    sidecar["class_counts_records"] = per_class(in_lmdb)
    sidecar["skipped"] = [collections.OrderedDict([("sample_id", s), ("reason", r)])
                          for s, r in skipped]
    sidecar["samples"] = [collections.OrderedDict([
        ("sample_id", r["_id"]), ("label", r["_label"]), ("class", r["label"])]) for r in rows]
    sidecar["key_format"] = "%08d"
    sidecar["count"] = len(records)
    sidecar["records"] = [collections.OrderedDict([
        ("key", "%08d" % k), ("sample_id", rows[i]["_id"]), ("label", rows[i]["_label"]),
        ("augmentation", ops)]) for k, (i, ops) in enumerate(records)]
    return sidecar


def _write(out, rows, records, counts, sidecar, skipped, locked, workers, progress, log):
    """Encode and write the records under a temporary name, install the LMDB
    with its sidecar, and say what was written; returns the sidecar."""
    names = CLASSES[sidecar["family"]]
    training = sidecar["split"] == "train"
    size = sidecar["image_size"]
    before, after, in_lmdb = counts
    for name in names:
        if training and before.get(names.index(name), 0) == 0:
            log("warning: class %s has no samples in this split" % name)

    remove_stale(out, locked, log)
    tmp_dir = out.parent / (".%s.building-%s" % (out.name, locks.owner()))
    tmp_sidecar = out.parent / (".%s.building-%s.json" % (out.name, locks.owner()))
    try:
        started = time.time()
        with _progress(len(records), progress, "lmdb %s" % out.name) as bar:
            write_lmdb(tmp_dir, len(records), size,
                       encode(rows, records, training, size, workers), bar)
        seconds = time.time() - started
        tmp_sidecar.write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")
        install(tmp_dir, tmp_sidecar, out)
    finally:
        shutil.rmtree(str(tmp_dir), ignore_errors=True)
        if tmp_sidecar.exists():
            tmp_sidecar.unlink()
    log("wrote %s: %d records of %dx%d (%s %s, seed %d) in %.1f s, %.0f records/s"
        % (out, len(records), size, size, sidecar["protocol"], sidecar["split"],
           sidecar["seed"], seconds, len(records) / max(seconds, 1e-9)))
    log(_count_table(names, before, after, in_lmdb, sidecar["resample"]))
    if skipped:
        log("left out %d sample(s) without a usable face (listed in %s)"
            % (len(skipped), sidecar_path(out)))
    sidecar["reused"] = False
    sidecar["seconds"] = seconds
    return sidecar


def _count_table(names, before, after, records, resampled):
    lines = ["  %-3s %-12s %8s %10s %8s" % ("#", "class", "samples",
                                           "resampled" if resampled else "", "records")]
    for i, name in enumerate(names):
        lines.append("  %-3d %-12s %8d %10s %8d" % (
            i, name, before.get(i, 0), after.get(i, 0) if resampled else "", records.get(i, 0)))
    return "\n".join(lines)


def _progress(total, enabled, desc):
    return tqdm(total=total, unit="rec", desc=desc, file=sys.stderr, disable=not enabled,
                mininterval=0.5, dynamic_ncols=True)
