"""caffelog: the parser of `caffe train` logs, on a log captured from a real
run of stock caffe (a tiny net on a generated LMDB, step lr policy) and on a
written snippet with known values."""
import math
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

from microattention.train import caffelog
from microattention.errors import UserError

CAFFE_BIN = shutil.which("caffe")

# The tiny run: 12 training images of 8x8, 3 classes, batch 4; 4 test images,
# batch 2, test_iter 2 (the whole test set); step policy.
BASE_LR, GAMMA, STEPSIZE, MAX_ITER = 0.1, 0.5, 3, 12
TEST_INTERVAL, TEST_ITER, TEST_BATCH = 4, 2, 2

NET = """name: "tiny"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
  transform_param { scale: 0.00390625 }
  data_param { source: "%(train)s" batch_size: 4 backend: LMDB } }
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
  transform_param { scale: 0.00390625 }
  data_param { source: "%(test)s" batch_size: %(test_batch)d backend: LMDB } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
layer { name: "accuracy" type: "Accuracy" bottom: "ip" bottom: "label" top: "accuracy"
  include { phase: TEST } }
"""

SOLVER = """net: "%(net)s"
base_lr: %(base_lr)r
lr_policy: "step"
gamma: %(gamma)r
stepsize: %(stepsize)d
max_iter: %(max_iter)d
momentum: 0.9
test_iter: %(test_iter)d
test_interval: %(test_interval)d
display: 1
snapshot_after_train: false
solver_mode: CPU
random_seed: 1
"""


def _write_lmdb(path, n, seed):
    import lmdb
    from caffe.proto import caffe_pb2
    rng = np.random.RandomState(seed)
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(n):
            d = caffe_pb2.Datum(channels=1, height=8, width=8, label=i % 3,
                                data=rng.randint(0, 256, (1, 8, 8)).astype(np.uint8).tobytes())
            txn.put(("%08d" % i).encode(), d.SerializeToString())
    env.close()


@pytest.fixture(scope="module")
def real_log(tmp_path_factory):
    if CAFFE_BIN is None:
        pytest.skip("caffe binary not on PATH (run inside the image)")
    pytest.importorskip("lmdb")
    pytest.importorskip("caffe")
    d = tmp_path_factory.mktemp("caffelog")
    _write_lmdb(d / "train", 12, 0)
    _write_lmdb(d / "test", TEST_ITER * TEST_BATCH, 1)
    (d / "net.prototxt").write_text(NET % {"train": d / "train", "test": d / "test",
                                           "test_batch": TEST_BATCH})
    (d / "solver.prototxt").write_text(SOLVER % {
        "net": d / "net.prototxt", "base_lr": BASE_LR, "gamma": GAMMA, "stepsize": STEPSIZE,
        "max_iter": MAX_ITER, "test_iter": TEST_ITER, "test_interval": TEST_INTERVAL})
    env = dict(os.environ, GLOG_minloglevel="0")
    started = time.time()
    r = subprocess.run([CAFFE_BIN, "train", "-solver", str(d / "solver.prototxt")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, env=env, timeout=120)
    elapsed = time.time() - started
    assert r.returncode == 0, r.stdout[-3000:]
    (d / "train.log").write_text(r.stdout)
    return d, elapsed


def test_real_log_iterations_lr_losses_and_tests(real_log):
    d, elapsed = real_log
    rows = caffelog.read_log(str(d / "train.log"))
    assert [r["iteration"] for r in rows] == list(range(MAX_ITER + 1))
    # lr of every update, exactly the step policy (caffe prints 6 digits; the
    # values 0.1 * 0.5^k are exact in them)
    lr = [(r["iteration"], r["lr"]) for r in rows if "lr" in r]
    assert lr == [(i, BASE_LR * GAMMA ** (i // STEPSIZE)) for i in range(MAX_ITER)]
    # displayed loss at 0..12 (the last after the final update), the train
    # net's loss output at 0..11; equal since average_loss is 1
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == MAX_ITER + 1
    assert all(math.isfinite(v) and v > 0 for v in losses)
    train = [(r["iteration"], r["train_loss"]) for r in rows if "train_loss" in r]
    assert [i for i, _ in train] == list(range(MAX_ITER))
    assert all(rows[i]["loss"] == v for i, v in train)
    # the test net runs at 0, 4, 8 and after the last iteration (12)
    tests = [r for r in rows if "test_accuracy" in r]
    assert [r["iteration"] for r in tests] == list(range(0, MAX_ITER + 1, TEST_INTERVAL))
    for r in tests:
        # mean accuracy over the test_iter batches: a multiple of 1/4
        correct = r["test_accuracy"] * TEST_ITER * TEST_BATCH
        assert abs(correct - round(correct)) < 1e-4 and 0 <= round(correct) <= 4
        assert math.isfinite(r["test_loss"]) and r["test_loss"] > 0
    assert [k for k in rows[0]] and caffelog.columns(rows) == [
        "iteration", "seconds", "lr", "loss", "train_loss", "test_accuracy", "test_loss"]
    seconds = [r["seconds"] for r in rows]
    assert seconds == sorted(seconds)
    assert 0 <= seconds[0] and seconds[-1] <= elapsed


def test_real_log_csv_and_curve(real_log, tmp_path):
    d, _ = real_log
    rows = caffelog.read_log(str(d / "train.log"))
    caffelog.write_csv(rows, str(tmp_path / "curve.csv"))
    lines = (tmp_path / "curve.csv").read_text().splitlines()
    assert lines[0] == "iteration,seconds,lr,loss,train_loss,test_accuracy,test_loss"
    assert len(lines) == MAX_ITER + 2
    assert lines[2].split(",")[2] == "0.1" and lines[2].split(",")[5:] == ["", ""]
    assert lines[-1].split(",")[2:3] == [""] and lines[-1].split(",")[4] == ""
    png = tmp_path / "curve.png"
    caffelog.plot(rows, str(png), title="tiny")
    from matplotlib import image
    pixels = image.imread(str(png))
    assert pixels.shape[0] > 300 and pixels.shape[1] == 700   # 7 in at 100 dpi
    first = png.read_bytes()
    caffelog.plot(rows, str(png), title="tiny")
    assert png.read_bytes() == first


SNIPPET = """Log file created at: 2026/12/31 23:59:58
Running on machine: build
fold1  | I1231 23:59:58.500000    16 caffe.cpp:197] Use CPU.
fold1  | I1231 23:59:59.000000    16 solver.cpp:347] Iteration 0, Testing net (#0)
fold1  | I1231 23:59:59.250000    16 solver.cpp:414]     Test net output #0: accuracy = 0.5
fold1  | I1231 23:59:59.250001    16 solver.cpp:414]     Test net output #1: loss = 1.5 (* 1 = 1.5 loss)
I1231 23:59:59.300000    16 solver.cpp:347] Iteration 0, Testing net (#1)
I1231 23:59:59.400000    16 solver.cpp:414]     Test net output #0: accuracy = 0.75
I1231 23:59:59.500000    16 solver.cpp:239] Iteration 0 (-1.29218e+32 iter/s, 0.005s/1 iters), loss = 2.25
I1231 23:59:59.600000    16 solver.cpp:258]     Train net output #0: loss = 2.5 (* 1 = 2.5 loss)
I1231 23:59:59.700000    16 sgd_solver.cpp:112] Iteration 0, lr = 0.01
I0101 00:00:01.000000    18 data_layer.cpp:73] Restarting data prefetching from start.
I0101 00:00:00.500000    16 solver.cpp:218] Iteration 100, loss = -nan
I0101 00:00:00.600000    16 solver.cpp:237]     Train net output #0: loss = nan (* 1 = nan loss)
I0101 00:00:00.700000    16 sgd_solver.cpp:106] Iteration 100, lr = 1e-05
W0101 00:00:02.000000    16 solver.cpp:1] Iteration mentioned without a value
I0101 00:00:03.500000    16 solver.cpp:327] Iteration 200, loss = 0.125
I0101 00:00:03.600000    16 solver.cpp:332] Optimization Done.
"""


def test_snippet_known_values():
    rows = caffelog.parse_log(SNIPPET)
    assert [r["iteration"] for r in rows] == [0, 100, 200]
    r0, r100, r200 = rows
    # seconds from the first glog line (23:59:58.5), across the new year
    assert (r0["seconds"], r100["seconds"], r200["seconds"]) == (1.2, 2.2, 5.0)
    assert (r0["lr"], r0["loss"], r0["train_loss"]) == (0.01, 2.25, 2.5)
    assert (r0["test_accuracy"], r0["test_loss"], r0["test1_accuracy"]) == (0.5, 1.5, 0.75)
    assert r100["lr"] == 1e-05
    assert math.isnan(r100["loss"]) and math.isnan(r100["train_loss"])
    assert set(r200) == {"iteration", "seconds", "loss"} and r200["loss"] == 0.125
    assert caffelog.rows_csv(rows).splitlines() == [
        "iteration,seconds,lr,loss,train_loss,test_accuracy,test_loss,test1_accuracy",
        "0,1.200000,0.01,2.25,2.5,0.5,1.5,0.75",
        "100,2.200000,1e-05,nan,nan,,,",
        "200,5.000000,,0.125,,,,"]


def test_appended_resumed_run_replaces_values_and_plain_lines_parse():
    log = ("Iteration 10, lr = 0.1\nIteration 10, loss = 3\n"
           "Iteration 10, lr = 0.05\nIteration 10, loss = 2\nIteration 20, loss = 1\n")
    rows = caffelog.parse_log(log)
    assert rows == [{"iteration": 10, "lr": 0.05, "loss": 2.0},
                    {"iteration": 20, "loss": 1.0}]
    assert caffelog.rows_csv(rows).splitlines()[1] == "10,,0.05,2"


def test_log_without_iterations_is_a_user_error(tmp_path):
    log = tmp_path / "empty.log"
    log.write_text("I1231 23:59:58.500000    16 caffe.cpp:197] Use CPU.\n")
    with pytest.raises(UserError, match="empty.log holds no training iteration"):
        caffelog.read_log(str(log))
    with pytest.raises(UserError, match="missing.log does not exist"):
        caffelog.read_log(str(tmp_path / "missing.log"))
