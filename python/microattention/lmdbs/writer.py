"""Writing one LMDB: the output checks, the lock and temporary folders of a
build, the records written in key order under a temporary name, and the
finished LMDB installed with its JSON sidecar (OUT.json)."""
import os
import pathlib
import shutil

from microattention import files, locks
from microattention.errors import UserError
from microattention.lmdbs.records import PAGE, record_bytes

BATCH_RECORDS = 256         # records per LMDB write transaction
LMDB_FILES = {"data.mdb", "lock.mdb"}


def sidecar_path(out):
    """The JSON sidecar of the LMDB folder out: OUT.json."""
    return pathlib.Path(str(out).rstrip("/\\") + ".json")


def is_lmdb_dir(path):
    """Whether path is a folder holding only LMDB files (data.mdb, lock.mdb)."""
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
    if out.exists() and not is_lmdb_dir(out):
        raise UserError("--out %s exists and is not an LMDB folder (only data.mdb/lock.mdb); "
                        "refusing to replace it" % out)
    files.check_outputs([sidecar_path(out)], [p for _, p in inputs],
                        {sidecar_path(out): "sidecar of --out"})
    files.output_dir(out.parent)


class ReplaceRefused(Exception):
    """build(replace=False) found an LMDB it would have to replace."""


def lock_path(out):
    """The lock file of the builders of out, beside it."""
    return out.parent / ("." + out.name + ".lock")


def remove_stale(out, locked, log):
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


def lmdb_count(path):
    """The records of the LMDB at path, or None when it does not open."""
    import lmdb  # lazy: an optional library, only needed when an LMDB is opened
    try:
        env = lmdb.open(str(path), readonly=True, lock=False)
    except lmdb.Error:
        return None
    try:
        return env.stat()["entries"]
    finally:
        env.close()


def initial_map_size(count, size):
    """Enough for `count` records of size x size: a value of that size takes
    whole overflow pages (record_bytes), plus its share of leaf and
    branch pages (one page a record, more than enough)."""
    return count * (record_bytes(size) + PAGE) + (8 << 20)


def write_lmdb(path, count, size, items, progress):
    """Write `count` (key, value) pairs from `items` in key order, in
    transactions of BATCH_RECORDS; the map grows when full."""
    import lmdb  # lazy: an optional library, only needed when an LMDB is written
    map_size = initial_map_size(count, size)
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


def install(tmp_dir, tmp_sidecar, out):
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
