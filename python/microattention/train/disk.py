"""The disk space a run needs, estimated before it starts: `run` prints it and
refuses when a filesystem it writes to has less free space.

LMDB values larger than a page take whole overflow pages: a 240x240 training
record (57,600 pixel bytes, a 13-byte Datum header, the page header) takes 15
pages of 4 KiB, 61,440 B; a 224x224 test record 13 pages, 53,248 B. The
records of a fold follow from its index rows alone (resampling to the largest
class, x5 with corner crops), without reading a face. A caffemodel is about
the size of the --weights file of the same net; a solverstate holds one
history blob per weight (SGD; two for Adam).
"""
import collections
import os
import pathlib
import shutil

from microattention import augment, protocols
from microattention.errors import UserError
from microattention.lmdbs.records import record_bytes

SNAPSHOT_PAIRS_WRITING = 3   # the 2 kept for resuming + the one being written


def training_records(labels, protocol):
    """Records of a training LMDB of these labels (augment.plan's count)."""
    p = protocols.get(protocol)
    count = len(augment.resample(labels, 0)) if p.resample else len(labels)
    return count * (1 + len(augment.CORNERS) if p.augmentation.corner_crops else 1)


def fold_lmdb_bytes(train_labels, test_count, protocol):
    return (training_records(train_labels, protocol) * record_bytes(augment.FACE_SIZE)
            + test_count * record_bytes(augment.TEST_SIZE))


def solverstate_bytes(model_bytes, protocol):
    return model_bytes * (2 if protocols.get(protocol).solver == "Adam" else 1)


Estimate = collections.namedtuple("Estimate", "lmdb_bytes lmdb_dir snapshot_bytes run_dir "
                                              "lmdb_folds final_bytes pair_bytes")


def estimate(label_of, protocol, folds, lmdb_homes, run_dir, weights, jobs,
             keep_snapshots=False, delete_lmdbs=False):
    """What the folds still to train (`folds`: fold_list entries, with their
    LMDB folders in `lmdb_homes`) will add: LMDBs not built yet, the final
    weights of each fold (with --keep-snapshots the last two snapshot pairs)
    and, at any time, up to three snapshot pairs per running fold. `label_of`:
    sample id -> class number (lmdbs.inputs.class_numbers)."""
    per_fold = []
    for fold, home in zip(folds, lmdb_homes):
        if (pathlib.Path(home) / "train" / "data.mdb").is_file():
            continue        # built before (by another net): reused
        per_fold.append(fold_lmdb_bytes([label_of[i] for i in fold["train"]],
                                        len(fold["test"]), protocol))
    if delete_lmdbs:    # only the running folds' LMDBs exist at once
        per_fold = sorted(per_fold)[-jobs:]
    model = os.path.getsize(str(weights))
    pair = model + solverstate_bytes(model, protocol)
    final = 2 * pair if keep_snapshots else model
    running = min(jobs, len(folds))
    snapshots = len(folds) * final + running * SNAPSHOT_PAIRS_WRITING * pair
    return Estimate(sum(per_fold), pathlib.Path(lmdb_homes[0]).parent if lmdb_homes else None,
                    snapshots if folds else 0, pathlib.Path(run_dir), len(per_fold), final, pair)


def _existing(path):
    path = pathlib.Path(path).resolve()
    while not path.exists():
        path = path.parent
    return path


def human(count):
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return "%.1f %s" % (count / size, unit)
    return "%d B" % count


def check(est, log, free=None):
    """Print the estimate and refuse when a filesystem lacks the space.
    `free` (path -> bytes) is shutil.disk_usage's free by default."""
    free = free or (lambda path: shutil.disk_usage(str(path)).free)
    log("disk: this run adds about %s: LMDBs %s (%d fold(s) not built yet) in %s; final "
        "weights %s per fold and up to %d snapshot pairs of %s per running fold, %s in all, "
        "in %s" % (human(est.lmdb_bytes + est.snapshot_bytes), human(est.lmdb_bytes),
                   est.lmdb_folds, est.lmdb_dir, human(est.final_bytes),
                   SNAPSHOT_PAIRS_WRITING, human(est.pair_bytes), human(est.snapshot_bytes),
                   est.run_dir))
    needs = collections.OrderedDict()     # device -> [folder, bytes, what]
    for folder, size, what in ((est.lmdb_dir, est.lmdb_bytes, "LMDBs"),
                               (est.run_dir, est.snapshot_bytes, "snapshots and weights")):
        if folder is None or not size:
            continue
        there = _existing(folder)
        entry = needs.setdefault(there.stat().st_dev, [there, 0, []])
        entry[1] += size
        entry[2].append("%s %s" % (what, human(size)))
    for there, size, what in needs.values():
        available = free(there)
        if size > available:
            raise UserError(
                "not enough free space in %s: this run needs about %s there (%s) and %s are "
                "free. Free some space, put --lmdb-dir on another disk, add --delete-lmdbs "
                "(each fold's LMDBs go when it is done), or run fewer --jobs"
                % (there, human(size), ", ".join(what), human(available)))
        log("disk: %s free in %s" % (human(available), there))
    return needs
