"""Progress of `run`: the status of a fold read from its caffe.log (an
excerpt of a real train-fold log and a written one with known values), the
ETA arithmetic of a fold and of a run, the plain-line throttle, the terminal
block, and one real `run` (in the image) whose output holds progress lines."""
import io
import re

import pytest

from microattention.train import progress
from microattention.train.watch import Watch

# caffe.log of a real 2-epoch train-fold (tests/test_training.py's HDE data,
# 1 iteration per epoch), the nets' set-up lines left out, paths shortened.
REAL = """\
# microattention train-fold 2026-12-06T06:33:27Z: epoch 1/2, iterations 1-1, random_seed 1
# /usr/bin/caffe train -solver /w/casme2-to-samm/solver_segment.prototxt -weights /w/init.caffemodel
I1206 06:33:28.011736    20 caffe.cpp:197] Use CPU.
I1206 06:33:28.311836    20 solver.cpp:57] Solver scaffolding done.
I1206 06:33:28.312183    20 caffe.cpp:239] Starting Optimization
I1206 06:33:28.312227    20 solver.cpp:289] Solving micro_attention
I1206 06:33:28.312239    20 solver.cpp:290] Learning Rate Policy: step
I1206 06:33:30.837885    20 solver.cpp:239] Iteration 0 (-2.39001e-12 iter/s, 2.525s/1 iters), loss = 1.90861
I1206 06:33:30.837957    20 solver.cpp:258]     Train net output #0: loss = 1.90861 (* 1 = 1.90861 loss)
I1206 06:33:30.837970    20 sgd_solver.cpp:112] Iteration 0, lr = 0.0001
I1206 06:33:30.875216    20 solver.cpp:464] Snapshotting to binary proto file /w/snapshots/micro_attention_iter_1.caffemodel
I1206 06:33:30.977626    20 sgd_solver.cpp:284] Snapshotting solver state to binary proto file /w/snapshots/micro_attention_iter_1.solverstate
I1206 06:33:31.002102    21 data_layer.cpp:73] Restarting data prefetching from start.
I1206 06:33:31.718029    20 solver.cpp:327] Iteration 1, loss = 1.91472
I1206 06:33:31.718082    20 solver.cpp:347] Iteration 1, Testing net (#0)
I1206 06:33:32.055585    20 solver.cpp:414]     Test net output #0: accuracy = 0.2
I1206 06:33:32.055642    20 solver.cpp:414]     Test net output #1: loss = 2.42767 (* 1 = 2.42767 loss)
I1206 06:33:32.055647    20 solver.cpp:332] Optimization Done.
I1206 06:33:32.055651    20 caffe.cpp:250] Optimization Done.
# microattention train-fold 2026-12-06T06:33:32Z: epoch 2/2, iterations 2-2, random_seed 2
# /usr/bin/caffe train -solver /w/casme2-to-samm/solver_segment.prototxt -snapshot /w/snapshots/micro_attention_iter_1.solverstate
# (the nets' set-up lines are in the log of the first epoch)
I1206 06:33:32.401690    23 caffe.cpp:197] Use CPU.
I1206 06:33:32.608673    23 caffe.cpp:235] Resuming from /w/snapshots/micro_attention_iter_1.solverstate
I1206 06:33:32.678597    23 sgd_solver.cpp:336] SGDSolver: restoring history
I1206 06:33:32.687475    23 caffe.cpp:239] Starting Optimization
I1206 06:33:35.154033    23 solver.cpp:239] Iteration 1 (-3.48359e+19 iter/s, 2.466s/1 iters), loss = 1.97625
I1206 06:33:35.158257    23 solver.cpp:258]     Train net output #0: loss = 1.97625 (* 1 = 1.97625 loss)
I1206 06:33:35.158288    23 sgd_solver.cpp:112] Iteration 1, lr = 0.0001
I1206 06:33:36.190056    23 solver.cpp:327] Iteration 2, loss = 1.98475
I1206 06:33:36.190115    23 solver.cpp:347] Iteration 2, Testing net (#0)
I1206 06:33:36.614512    23 solver.cpp:414]     Test net output #0: accuracy = 0.2
I1206 06:33:36.614701    23 solver.cpp:332] Optimization Done.
"""


def written_log(per_epoch=30, epochs=4, upto=None, first_epoch=1, start_second=0):
    """A caffe.log in train-fold's form: caffe starts 2 s into each epoch,
    one iteration a second, a loss line every 10 iterations (display 10)
    with loss = 1000 / (iteration + 1), the epoch's test at its end."""
    lines, second = [], start_second
    for epoch in range(first_epoch, epochs + 1):
        first, last = (epoch - 1) * per_epoch + 1, epoch * per_epoch
        lines.append("# microattention train-fold 2026-12-06T07:00:00Z: epoch %d/%d, "
                     "iterations %d-%d, random_seed %d" % (epoch, epochs, first, last, epoch))
        lines.append(_glog(second, "caffe.cpp:197] Use CPU."))
        second += 2
        for it in range(first - 1, last + 1):
            if upto is not None and it > upto:
                return "\n".join(lines) + "\n"
            if it % 10 == 0 or it == last:
                lines.append(_glog(second, "solver.cpp:239] Iteration %d (1 iter/s, 10s/10 "
                                           "iters), loss = %g" % (it, 1000.0 / (it + 1))))
            if it < last:
                second += 1
        lines.append(_glog(second, "solver.cpp:347] Iteration %d, Testing net (#0)" % last))
        lines.append(_glog(second, "solver.cpp:414]     Test net output #0: accuracy = 0.5"))
    return "\n".join(lines) + "\n"


def _glog(second, message):
    return "I1206 07:%02d:%02d.000000    20 %s" % (second // 60 % 60, second % 60, message)


# ------------------------------------------------------------------ one fold


def test_status_of_a_real_log_excerpt():
    # the first epoch's first loss line: iteration 0 of 2, nothing measured yet
    start = REAL[:REAL.index("I1206 06:33:30.837957")]
    s = progress.read_status("casme2-to-samm", start, 4.0)
    assert (s.epoch, s.epochs, s.iteration, s.max_iter, s.loss) == (1, 2, 0, 2, 1.90861)
    assert s.in_epoch and s.rate is None and s.eta is None
    assert progress.fold_line(s) == ("fold casme2-to-samm: epoch 1/2, iteration 0/2, "
                                     "loss 1.909, elapsed 4 s, ETA ?")
    # epoch 2's header read, its caffe not started yet: still iteration 1
    between = REAL[:REAL.index("I1206 06:33:32.401690")]
    s = progress.read_status("casme2-to-samm", between, 6.0)
    assert (s.epoch, s.iteration, s.loss, s.in_epoch) == (2, 1, 1.91472, False)
    # 1 iteration from caffe's first line (28.011736) to 31.718029
    assert s.rate == pytest.approx(1 / 3.706293)
    assert s.eta == pytest.approx(3.706293)
    # the whole log: 2 iterations in 8.17832 s, training done
    s = progress.read_status("casme2-to-samm", REAL, 9.0)
    assert (s.epoch, s.iteration, s.max_iter, s.loss) == (2, 2, 2, 1.98475)
    assert s.rate == pytest.approx(2 / 8.17832) and s.eta == 0
    assert progress.fold_line(s) == ("fold casme2-to-samm: epoch 2/2, iteration 2/2, loss "
                                     "1.985, elapsed 9 s, training done, testing the final "
                                     "snapshot")


def test_eta_from_the_measured_rate_and_the_iterations_left():
    # 4 epochs of 30: at iteration 70 (epoch 3), caffe started 3 times (2 s
    # each before its first iteration) and ran 70 iterations at 1 s each
    s = progress.read_status("f", written_log(upto=70), 100.0)
    assert (s.epoch, s.epochs, s.iteration, s.max_iter) == (3, 4, 70, 120)
    seconds = 3 * 2 + 70
    assert s.rate == pytest.approx(70.0 / seconds)
    assert s.eta == pytest.approx((120 - 70) * seconds / 70.0)
    assert s.loss == pytest.approx(1000.0 / 71)
    assert progress.fold_line(s) == ("fold f: epoch 3/4, iteration 70/120, loss 14.08, "
                                     "elapsed 1 min 40 s, ETA 54 s (0.921 iter/s)")
    # a fold resumed at epoch 3 measures from its own start
    resumed = written_log(upto=70, first_epoch=3, start_second=500)
    s = progress.read_status("f", resumed, 20.0)
    assert s.rate == pytest.approx(10.0 / 12) and s.eta == pytest.approx(50 * 12 / 10.0)


def test_a_repeated_epoch_starts_the_measure_again():
    # a session killed in epoch 2 and resumed an hour later from the snapshot
    # of epoch 1: the pause is not counted
    first = written_log(upto=45)
    again = written_log(upto=50, first_epoch=2, start_second=3600)
    s = progress.read_status("f", first + again, 10.0)
    assert (s.epoch, s.iteration) == (2, 50)
    assert s.rate == pytest.approx(20.0 / 22)


def test_before_caffe_starts_the_fold_is_preparing():
    s = progress.read_status("casme2_sub01", "", 75.0)
    assert s.epoch is None and s.eta is None
    assert progress.fold_line(s) == "fold casme2_sub01: preparing (LMDBs, nets), elapsed " \
                                    "1 min 15 s"


def test_duration_text():
    assert [progress.duration_text(v) for v in (None, 0, 59.4, 60, 3599, 3600, 86399, 90000)] \
        == ["?", "0 s", "59 s", "1 min 00 s", "59 min 59 s", "1 h 00 min", "23 h 59 min",
            "1 d 01 h"]


# ------------------------------------------------------------------ the run


def test_run_eta_gives_waiting_folds_to_the_first_free_job():
    # two jobs: folds with 10 s and 30 s left (100 s and 120 s in all); two
    # waiting folds of the mean known duration (100 + 120 + 80) / 3 = 100 s
    eta = progress.run_eta([(90, 10), (90, 30)], 2, [80], 2)
    assert eta == pytest.approx(max(10 + 100, 30 + 100))
    # one job: 10 s, then three waiting folds one after another
    assert progress.run_eta([(50, 10)], 3, [], 1) == pytest.approx(10 + 3 * 60)
    # a running fold without an ETA lasts the mean too: (100 + 60) / 2 - 30
    assert progress.run_eta([(30, None), (40, 20)], 0, [100], 2) == pytest.approx(80 - 30)
    # a free job takes a waiting fold at once: the mean of 60 s and 10 + 5 s
    assert progress.run_eta([(10, 5)], 1, [60], 2) == pytest.approx((60 + 15) / 2.0)
    # nothing measured yet
    assert progress.run_eta([(5, None)], 3, [], 2) is None
    assert progress.run_eta([], 0, [12], 2) == 0
    assert progress.run_line(1, 2, 3, 61, None) == \
        "run: 1 finished, 2 running, 3 waiting; elapsed 1 min 01 s, ETA ? (no fold measured yet)"


def test_plain_lines_come_on_each_epoch_and_at_most_every_30_s():
    base = progress.Status("f", None, 3, None, 90, None, False, None, 0, None)
    # (wall time, epoch, iteration, caffe logged an iteration of the epoch)
    seen = [(5, 1, 0, True), (12, 1, 10, True), (36, 1, 30, True), (41, 2, 30, False),
            (50, 2, 40, True), (75, 2, 50, True), (80, 2, 60, True), (85, 3, 60, False),
            (111, 3, 60, False), (115, 3, 60, True), (120, 3, 70, True)]
    last, shown = (0, None), []
    for now, epoch, iteration, in_epoch in seen:
        s = base._replace(epoch=epoch, iteration=iteration, in_epoch=in_epoch, elapsed=now)
        if progress.due(last, s, now):
            shown.append(now)
            last = progress.printed(last, s, now)
    # epoch 1's first line; 31 s on; epoch 2's first loss line (its header
    # alone is not enough); 30 s on; 31 s on while epoch 3's caffe sets up;
    # epoch 3's first loss line
    assert shown == [5, 36, 50, 80, 111, 115]


class Terminal(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def _fold_dir(tmp_path, name):
    """A fold folder whose caffe.log holds an earlier session's text (at
    epoch 4 of 4), which the watch does not count."""
    d = tmp_path / name
    d.mkdir()
    (d / "caffe.log").write_text(written_log(upto=100))
    return d


def _through(text, marker):
    """text up to the end of the line holding marker."""
    return text[:text.index("\n", text.index(marker)) + 1]


def test_watch_prints_plain_lines_without_redrawing(tmp_path):
    now = [1000.0]
    out = Terminal(False)
    watch = Watch(2, 1, stream=out, clock=lambda: now[0], stamp=lambda: "T")
    d = _fold_dir(tmp_path, "sub01")
    watch.started("sub01", d)
    watch.say("fold sub01 (1/2) started")
    log, written = written_log(), 0
    for t, marker in ((1, "Iteration 0 ("), (2, "Iteration 10 ("), (3, "Iteration 40 ("),
                      (40, "Iteration 50 (")):
        now[0] = 1000.0 + t
        upto = len(_through(log, marker))
        with open(str(d / "caffe.log"), "a") as handle:
            handle.write(log[written:upto])
        written = upto
        watch.poll()
    watch.ended("sub01", 41.0, True)
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert text.splitlines() == [
        "[T] fold sub01 (1/2) started",
        "[T] fold sub01: epoch 1/4, iteration 0/120, loss 1000, elapsed 1 s, ETA ?",
        # epoch 2's first line (iteration 10 was not due): 40 iterations in
        # 44 s of the log (2 caffe starts of 2 s), 80 to go
        "[T] fold sub01: epoch 2/4, iteration 40/120, loss 24.39, elapsed 3 s, "
        "ETA 1 min 28 s (0.909 iter/s)",
        # 37 s after the last line: 50 iterations in 54 s of the log, 70 to go
        "[T] fold sub01: epoch 2/4, iteration 50/120, loss 19.61, elapsed 40 s, "
        "ETA 1 min 16 s (0.926 iter/s)",
        # 30 s into the run: the fold running (40 s + 75.6 s), then one more as long
        "[T] run: 0 finished, 1 running, 1 waiting; elapsed 40 s, ETA about 3 min 11 s",
        # a fold ended: the other one waits, as long as the one finished
        "[T] run: 1 finished, 0 running, 1 waiting; elapsed 40 s, ETA about 41 s"]


def test_watch_redraws_a_block_on_a_terminal_at_most_once_a_second(tmp_path):
    erase = "\x1b[3A\r\x1b[J"    # up 3 lines (2 folds and the run), clear below
    now = [0.0]
    out = Terminal(True)
    watch = Watch(3, 2, stream=out, clock=lambda: now[0], stamp=lambda: "T")
    for name in ("a", "b"):
        watch.started(name, _fold_dir(tmp_path, name))
    watch.say("fold a (1/3) started")
    assert out.getvalue().startswith("[T] fold a (1/3) started\nfold a: preparing")
    for t in (0.2, 0.4, 0.9, 1.2, 1.5, 2.3):
        now[0] = t
        watch.poll()
    # redrawn at 1.2 s and 2.3 s, not at 0.2 ... 0.9 or 1.5 (drawn at 0 s)
    assert out.getvalue().count(erase) == 2
    watch.say("fold a finished")
    text = out.getvalue()
    assert text.count(erase) == 3
    # the earlier sessions' text in caffe.log is not theirs: both are preparing
    assert text.split(erase)[-1].splitlines() == [
        "[T] fold a finished", "fold a: preparing (LMDBs, nets), elapsed 2 s",
        "fold b: preparing (LMDBs, nets), elapsed 2 s",
        "run: 0 finished, 2 running, 1 waiting; elapsed 2 s, ETA ? (no fold measured yet)"]
    watch.ended("a", 2.3, True)     # redrawn at once without it
    assert out.getvalue().split(erase)[-1].splitlines() == [
        "fold b: preparing (LMDBs, nets), elapsed 2 s",
        "run: 1 finished, 1 running, 1 waiting; elapsed 2 s, ETA about 2 s"]
    watch.close()
    text = out.getvalue()
    assert text.endswith("\x1b[2A\r\x1b[J")    # closed: the block is gone


# ------------------------------------------------------------------ a real run

def test_a_real_run_prints_progress_lines_with_increasing_iterations(tmp_path):
    """tests/test_training.py's HDE data (2 folds, 1 iteration per epoch),
    3 epochs, 2 jobs, output captured (not a terminal)."""
    pytest.importorskip("cv2")
    pytest.importorskip("lmdb")
    try:
        import test_training as tt
    except pytest.skip.Exception:
        pytest.skip("pycaffe not available (run inside the image)")
    index, faces, _ = tt.write_data(tmp_path / "data", tt.HDE_ROWS)
    weights = tt.random_weights(tmp_path / "init.caffemodel", "micro_attention")
    out = tt.cli("run", "--protocol", "hde", "--index", index, "--faces", faces, "--weights",
                 weights, "--run-dir", tmp_path / "runs", "--epochs", 3, "--jobs", 2).stdout
    assert "\r" not in out and "\x1b" not in out
    runs = tmp_path / "runs" / "hde" / "micro_attention"
    for fold in ("casme2-to-samm", "samm-to-casme2"):
        assert re.search(r"fold %s \(\d/2\) started" % fold, out)
        assert re.search(r"fold %s finished in \d+ s: 5 test samples" % fold, out)
        found = re.findall(r"\] fold %s: epoch (\d)/3, iteration (\d+)/3, loss (\S+),"
                           % fold, out)
        iterations = [int(i) for _, i, _ in found]
        assert len(found) >= 2 and iterations == sorted(iterations), out
        assert iterations[-1] > iterations[0], out
        log = (runs / fold / "caffe.log").read_text()
        for epoch, iteration, loss in found:
            # the loss caffe displayed at that iteration
            logged = re.findall(r"Iteration %s\b[^\n]*, loss = (\S+)" % iteration, log)
            assert loss in ["%.4g" % float(v) for v in logged], (iteration, loss, logged)
            # epoch k holds iterations k-1 (its first display) to k
            assert int(epoch) - 1 <= int(iteration) <= int(epoch)
    # the first fold to end leaves one running: the run's ETA is its own
    assert re.search(r"\] run: 1 finished, 1 running, 0 waiting; elapsed [^,]+, ETA about ", out)
