"""Progress of a running fold, read from its caffe.log: pure functions from
log text to a status record and a line, the ETA arithmetic of a fold and of
a whole run, and the rule for when a plain (non-terminal) line is due.
train/watch.py follows the logs of `run`'s folds with them; `reproduce` can
do the same.

What caffe.log holds (train/caffe.py appends it, train/schedule.py runs one
caffe process per epoch):
  # microattention train-fold 2026-12-06T06:33:27Z: epoch 1/2, iterations 1-1, random_seed 1
  I1206 06:33:28.011736    20 caffe.cpp:197] Use CPU.
  I1206 06:33:30.837885    20 solver.cpp:239] Iteration 0 (-2.39e-12 iter/s, 2.525s/1 iters), loss = 1.90861
  I1206 06:33:31.718029    20 solver.cpp:327] Iteration 1, loss = 1.91472
The header of epoch k of N says its iterations a-b, b = k x L with L the
fold's iterations per epoch (the schedule's ceil(records/batch)), so the
log alone gives the epoch, L and the last iteration N x L.

The iteration rate is measured from glog's timestamps: the iterations done
since the first epoch of the text began, over the seconds from caffe's first
line to the last loss line. It therefore counts each epoch's caffe start,
snapshot and test, as the remaining epochs will. Feed the text written since
the fold's process started (an earlier session's pause would dilute the
rate; a repeated epoch, a resumed session, starts the measure again).
"""
import collections
import re

from microattention.train import caffelog

PLAIN_INTERVAL = 30.0      # seconds between plain lines of one fold (not a terminal)
_HEADER = re.compile(r"^# microattention train-fold \S+: epoch (\d+)/(\d+), "
                     r"iterations (\d+)-(\d+)")

# A fold's status: epoch/epochs/iteration/max_iter/loss None before caffe
# logged them; in_epoch: caffe logged an iteration of this epoch (it may
# still be setting up, showing the last one of the epoch before); rate in
# iterations per second, eta in seconds (None unknown).
Status = collections.namedtuple(
    "Status", "fold epoch epochs iteration max_iter loss in_epoch rate elapsed eta")


class Reading:
    """What a fold's caffe.log has said so far; feed it complete lines."""

    def __init__(self):
        self.clock = caffelog.Clock()
        self.epoch = self.epochs = self.per_epoch = None
        self.start_iter = None      # the iteration the measured stretch began at
        self.iteration = self.loss = None
        self.seconds = None         # glog time of the last loss line, on self.clock
        self.epoch_seen = False     # a loss line of the current epoch was read

    def feed(self, text):
        for line in text.splitlines():
            header = _HEADER.match(line)
            if header:
                self._epoch(*(int(g) for g in header.groups()))
                continue
            seconds, message = caffelog.glog_message(line, self.clock)
            found = caffelog.train_loss(message) if message.startswith("Iteration") else None
            if found and self.epoch is not None:
                self.iteration, self.loss = found
                self.epoch_seen = True
                if seconds is not None:
                    self.seconds = seconds
        return self

    def _epoch(self, epoch, epochs, first, last):
        if self.epoch is None or epoch <= self.epoch:
            # the first epoch of the text, or one run again (a resumed session)
            self.clock = caffelog.Clock()
            self.start_iter = first - 1
            self.seconds = None
        self.epoch, self.epochs = epoch, epochs
        self.per_epoch = last // epoch
        self.epoch_seen = False


def rate(start_iter, iteration, seconds):
    """Iterations per second over a measured stretch; None when nothing is
    measured yet."""
    if start_iter is None or iteration is None or not seconds or iteration <= start_iter:
        return None
    return (iteration - start_iter) / float(seconds)


def eta_seconds(iteration, max_iter, per_second):
    """Seconds until max_iter at the measured rate; None when unknown."""
    if iteration is None or max_iter is None or not per_second:
        return None
    return max(0, max_iter - iteration) / per_second


def status(fold, reading, elapsed):
    """The Status of a fold whose caffe.log was fed to `reading`, `elapsed`
    seconds after its process started."""
    max_iter = reading.epochs * reading.per_epoch if reading.epoch is not None else None
    per_second = rate(reading.start_iter, reading.iteration, reading.seconds)
    return Status(fold, reading.epoch, reading.epochs, reading.iteration, max_iter,
                  reading.loss, reading.epoch_seen, per_second, elapsed,
                  eta_seconds(reading.iteration, max_iter, per_second))


def read_status(fold, caffe_log_text, elapsed):
    """The Status of a fold from its caffe.log text (see the docstring)."""
    return status(fold, Reading().feed(caffe_log_text), elapsed)


def duration_text(seconds):
    """45 s, 3 min 05 s, 2 h 04 min, 3 d 02 h."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return "%d s" % s
    if s < 3600:
        return "%d min %02d s" % (s // 60, s % 60)
    if s < 86400:
        return "%d h %02d min" % (s // 3600, s % 3600 // 60)
    return "%d d %02d h" % (s // 86400, s % 86400 // 3600)


def fold_line(s):
    """One line of a fold's status."""
    if s.epoch is None:
        return "fold %s: preparing (LMDBs, nets), elapsed %s" % (s.fold, duration_text(s.elapsed))
    if s.iteration is None:
        where = "starting caffe"
    else:
        where = "iteration %d/%d" % (s.iteration, s.max_iter)
        if s.loss is not None:
            where += ", loss %.4g" % s.loss
    if s.iteration is not None and s.iteration >= s.max_iter:
        eta = "training done, testing the final snapshot"
    else:
        eta = "ETA %s" % duration_text(s.eta)
        if s.rate:
            eta += " (%.3g iter/s)" % s.rate
    return "fold %s: epoch %d/%d, %s, elapsed %s, %s" % (
        s.fold, s.epoch, s.epochs, where, duration_text(s.elapsed), eta)


def run_eta(running, waiting, finished, jobs):
    """Seconds until a run's last fold is done: `running` the (elapsed, eta)
    of its running folds, `waiting` how many folds have not started,
    `finished` the durations of the folds finished in this run, `jobs` at a
    time. A waiting fold, or a running one without an ETA, is taken to last
    the mean duration of the folds known (finished, or elapsed + ETA); the
    waiting ones go to the first free job. None when no duration is known."""
    known = list(finished) + [e + r for e, r in running if r is not None]
    if not known and (waiting or any(r is None for _, r in running)):
        return None
    mean = sum(known) / len(known) if known else 0.0
    slots = [r if r is not None else max(0.0, mean - e) for e, r in running]
    slots += [0.0] * max(0, jobs - len(slots))
    for _ in range(waiting):
        first = slots.index(min(slots))
        slots[first] += mean
    return max(slots) if slots else 0.0


def run_line(finished, running, waiting, elapsed, eta):
    return "run: %d finished, %d running, %d waiting; elapsed %s, ETA %s" % (
        finished, running, waiting, duration_text(elapsed),
        "about " + duration_text(eta) if eta is not None else "? (no fold measured yet)")


def due(last, s, now, interval=PLAIN_INTERVAL):
    """Whether a plain line of fold status `s` is due: `last` is (time,
    epoch) of the fold's last line (the fold's start: (start, None)). Due on
    the first loss line of each epoch, and `interval` seconds after the last
    line."""
    last_time, last_epoch = last
    if s.epoch is not None and s.epoch != last_epoch and s.in_epoch:
        return True
    return now - last_time >= interval


def printed(last, s, now):
    """The fold's `last` (see due) once a line of `s` is printed at `now`."""
    return now, s.epoch if s.in_epoch else last[1]
