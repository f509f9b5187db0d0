#!/usr/bin/env python3
"""Disk use of a protocol run with the three nets (prints figures; not a test).

1. Computed for CDE at the paper's scale (46 folds of CASME II + SAMM, Table 1
   counts, 3 nets): the LMDBs with 4 KiB page rounding (a 240x240 record takes
   61,440 B, a 224x224 one 53,248 B) and the snapshots, with the caffemodel
   sizes of the three nets measured here (their solverstates, SGD, hold one
   history blob per weight: the same size). "Before": each net its own LMDB
   copies and two snapshot pairs per fold left after done.json; "after": one
   set of LMDBs per fold, only the final weights; "after, --delete-lmdbs":
   only the running folds' LMDBs.
2. Measured on a reduced run (--folds subjects of generated faces, 1 epoch,
   the three nets one after the other through `run`): bytes on disk (du,
   hard links once) by kind. --python-path runs another checkout's code
   (e.g. the code before the change) on the same data.

  docker run --rm -v $PWD:/opt/micro-attention localhost/micro-attention \\
      python3 tools/bench_disk.py [--python-path /other/python]
"""
import argparse
import collections
import csv
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

import numpy as np  # noqa: E402

from microattention import paper  # noqa: E402
from microattention.lmdbs import records  # noqa: E402
from microattention.train import disk  # noqa: E402
from microattention.nets import prototxt  # noqa: E402
from microattention.datasets.common import COLUMNS, sample_id  # noqa: E402

CDE_FOLDS = 46
CDE_DATASETS = ("casme2", "samm")
NETS = ("resnet10", "micro_attention", "complex_attention")


def model_sizes(folder):
    sizes = {}
    for net in NETS:
        path = pathlib.Path(folder) / ("%s.caffemodel" % net)
        model = prototxt.build(prototxt.render_deploy(net, num_output=5))
        prototxt.fill_random(model, np.random.RandomState(0), data_mean=110.0, data_std=58.0)
        model.save(str(path))
        sizes[net] = path.stat().st_size
    return sizes


def cde_figures(sizes, jobs):
    counts = collections.Counter()
    for dataset in CDE_DATASETS:
        for name in paper.CLASSES:
            counts[name] += paper.TABLE1[dataset][name]
    samples = sum(counts.values())
    # a fold's training side: every class resampled to the largest (at most
    # all its samples), x5 with the corner crops; its test side, the subject
    train_records = len(paper.CLASSES) * max(counts.values()) * 5
    fold_train = train_records * records.record_bytes(240)
    all_tests = samples * records.record_bytes(224)
    lmdbs = CDE_FOLDS * fold_train + all_tests
    finals = CDE_FOLDS * sum(sizes.values())
    pairs = sum(2 * s for s in sizes.values())       # caffemodel + SGD solverstate
    before = len(NETS) * lmdbs + CDE_FOLDS * 2 * pairs
    after = lmdbs + finals
    deleting = jobs * fold_train + all_tests * jobs / CDE_FOLDS + finals
    print("CDE, %d folds, %d samples, 3 nets (computed):" % (CDE_FOLDS, samples))
    print("  training LMDB per fold (upper bound: %d records x %d B): %s"
          % (train_records, records.record_bytes(240), disk.human(fold_train)))
    print("  test LMDBs of all folds (%d records x %d B): %s"
          % (samples, records.record_bytes(224), disk.human(all_tests)))
    print("  caffemodel: %s" % ", ".join("%s %s" % (n, disk.human(s)) for n, s in sizes.items()))
    print("  before: 3 x LMDBs %s + 2 snapshot pairs per fold and net %s = %s"
          % (disk.human(len(NETS) * lmdbs), disk.human(CDE_FOLDS * 2 * pairs),
             disk.human(before)))
    print("  after: LMDBs once %s + final weights %s = %s"
          % (disk.human(lmdbs), disk.human(finals), disk.human(after)))
    print("  after, --delete-lmdbs, %d fold(s) at once: %s" % (jobs, disk.human(deleting)))
    print("  while training, per running fold: up to 3 snapshot pairs (%s for the "
          "largest net)" % disk.human(3 * 2 * max(sizes.values())))


def write_data(folder, subjects):
    import cv2
    (folder / "faces" / "crops").mkdir(parents=True)
    rng = np.random.RandomState(5)
    rows, faces = [], []
    for s in range(subjects):
        for c, label in enumerate(paper.CLASSES[:2 + s % 3]):
            row = dict.fromkeys(COLUMNS, "")
            row.update(dataset="casme2", subject="sub%02d" % (s + 1), clip="c%d_%d" % (s, c),
                       label=label, frame="1", frame_path="x.png", root=str(folder))
            rows.append(row)
            crop = "crops/%d_%d.png" % (s, c)
            cv2.imwrite(str(folder / "faces" / crop), (rng.rand(240, 240) * 200 + 20).astype(
                np.uint8))
            faces.append({"sample_id": sample_id(row), "crop": crop, "status": "ok"})
    for name, columns, table in (("index.csv", COLUMNS, rows),
                                 ("faces/faces.csv", ["sample_id", "crop", "status"], faces)):
        with open(str(folder / name), "w", newline="") as handle:
            writer = csv.DictWriter(handle, columns)
            writer.writeheader()
            writer.writerows(table)
    return folder / "index.csv", folder / "faces"


def du_by_kind(folder):
    seen, kinds = set(), collections.Counter()
    for path in pathlib.Path(folder).rglob("*"):
        st = path.lstat()
        if not path.is_file() or (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        if path.name in ("data.mdb", "lock.mdb"):
            kind = "LMDB"
        elif path.suffix in (".caffemodel", ".solverstate"):
            kind = path.suffix[1:]
        else:
            kind = "other"
        kinds[kind] += st.st_blocks * 512
    return kinds


def measure(folder, python_path, subjects, weights):
    index, faces = write_data(folder / "data", subjects)
    env = dict(os.environ, PYTHONPATH=python_path, PYTHONDONTWRITEBYTECODE="1",
               OPENBLAS_NUM_THREADS="1")
    env.pop("GLOG_minloglevel", None)
    runs = folder / "runs"
    for net in NETS:
        subprocess.run([sys.executable, "-m", "microattention", "run", "--protocol", "loso",
                        "--net", net, "--index", str(index), "--faces", str(faces),
                        "--weights", str(weights[net]), "--run-dir", str(runs),
                        "--epochs", "1"], env=env, check=True, stdout=subprocess.DEVNULL)
    kinds = du_by_kind(runs)
    print("measured, LOSO on %d generated subjects, 3 nets, 1 epoch, code %s:"
          % (subjects, python_path))
    for kind in ("LMDB", "caffemodel", "solverstate", "other"):
        print("  %-12s %10d B  %s" % (kind, kinds[kind], disk.human(kinds[kind])))
    print("  %-12s %10d B  %s" % ("total", sum(kinds.values()), disk.human(sum(kinds.values()))))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python-path", default=str(ROOT / "python"))
    parser.add_argument("--subjects", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-measure", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-disk-") as tmp:
        tmp = pathlib.Path(tmp)
        sizes = model_sizes(tmp)
        cde_figures(sizes, args.jobs)
        if not args.no_measure:
            measure(tmp, args.python_path, args.subjects,
                    {n: tmp / ("%s.caffemodel" % n) for n in NETS})


if __name__ == "__main__":
    main()
