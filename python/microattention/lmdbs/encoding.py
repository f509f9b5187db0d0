"""The records' bytes: each face decoded (cached), augmented with its
planned draws or resized for testing, and encoded as a Datum, in order; in a
pool of worker processes when there are enough records."""
import multiprocessing
import os
import signal

from microattention import augment
from microattention.errors import UserError
from microattention.lmdbs.records import datum_bytes

PARALLEL_MIN = 3000         # fewer records are encoded in-process (a worker starts in 1-3 s)
CACHE_BYTES = 256 << 20     # decoded faces kept in memory (resampled sets repeat them)


def default_workers():
    """The processes of the pool by default: the CPUs this process may use, at
    most 4."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


_FACES = {}          # a worker's decoded faces: path -> image
_FACES_BYTES = [0]


def _face(path):
    import cv2  # lazy: OpenCV is slow to import; only the encoding needs it
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
    import cv2  # lazy: OpenCV is slow to import
    cv2.setNumThreads(1)                          # the pool is the parallelism
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C


def encode(rows, records, training, size, workers):
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
    # spawn: a fresh interpreter per worker, safe even when the caller has
    # threads running (pycaffe's prefetchers in the tests)
    with multiprocessing.get_context("spawn").Pool(workers, _worker_init) as pool:
        for key, value in zip(keys, pool.imap(_record, tasks, chunksize=16)):
            yield key, value
