"""A fold's LMDBs (step 1 of train-fold): its train.txt / test.txt and the
two LMDBs lmdbs.build writes from them, shared by the three nets: built once
under the fold's LMDB lock, read under a shared lock, rebuilt only when no
net reads them, deleted with --delete-lmdbs."""
import os
import shutil

from microattention import files, lmdbs, locks


def write_lists(fold_dir, fold_info):
    """FOLD/train.txt and FOLD/test.txt: the fold's sample ids; {side: path}."""
    lists = {}
    for side in ("train", "test"):
        lists[side] = fold_dir / ("%s.txt" % side)
        files.write_if_changed(lists[side], "".join(s + "\n" for s in fold_info[side]))
    return lists


def builder(index, faces, p, home, lists, seed, log):
    """build(replace) -> {side: lmdbs.build's result} of both LMDBs of a fold
    (pre-training: train and its held-out val, from the whole index)."""
    pretrain = p.name == "pretrain"
    test_split = "val" if pretrain else "test"

    def build(replace):
        return {side: lmdbs.build(str(index), str(faces), str(home / side), p, split=split,
                                  samples=None if pretrain else str(lists[side]), seed=seed,
                                  progress=False, log=log, replace=replace)
                for side, split in (("train", "train"), ("test", test_split))}
    return build


def build_fold_lmdbs(home, build, log, fold_id):
    """Both LMDBs of a fold under the fold's LMDB lock, left held shared
    (returned) while the caller reads them: nets reuse one build; a build
    with other settings replaces it only when no one reads it."""
    files.output_dir(home)
    lock = locks.FileLock(home / ".lock", "the LMDBs of fold %s" % fold_id)
    try:
        lock.acquire(exclusive=False)
        try:
            return build(False), lock
        except lmdbs.ReplaceRefused as exc:
            log("fold %s: %s; it is rebuilt when no other net reads it (waiting)"
                % (fold_id, exc))
        lock.acquire(exclusive=True)
        built = build(True)
        lock.acquire(exclusive=False)
        return built, lock
    except BaseException:
        lock.release()
        raise


def delete_fold_lmdbs(home, log):
    """--delete-lmdbs: the fold's LMDBs go once no other process reads them."""
    lock = locks.FileLock(home / ".lock", "the LMDBs in %s" % home)
    with lock:
        if not lock.acquire(exclusive=True, wait=False):
            log("kept the LMDBs in %s: another net is reading them" % home)
            return False
        for name in sorted(os.listdir(str(home))):
            if name == ".lock":
                continue
            path = home / name
            if path.is_dir():
                shutil.rmtree(str(path))
            else:
                path.unlink()
    log("deleted the LMDBs in %s (--delete-lmdbs)" % home)
    return True
