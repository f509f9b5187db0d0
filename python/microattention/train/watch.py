"""Watching the running folds of `run` (train/runs.py): each fold's caffe.log
followed as it grows, its status read by train/progress.py, and shown

  on a terminal: a block of lines, one per running fold and one for the
      whole run (its ETA), redrawn in place at most once a second; the
      start, finish and failure lines are printed above it;
  elsewhere (a log file, CI, a parent process reading the output): plain
      lines, never redrawn: a fold's line on the first iteration of each
      epoch and at most every 30 s between, the run's line when a fold ends
      and at most every 30 s.
"""
import collections
import os
import shutil
import sys
import time

from microattention.train import layout, progress

TTY_INTERVAL = 1.0     # seconds between redraws of the terminal block
UNKNOWN_WIDTH = 160    # columns when the terminal does not say


def _stamp():
    return time.strftime("%H:%M:%S")


class Follower:
    """The complete lines a growing file gets after the moment it is made."""

    def __init__(self, path):
        self.path = path
        try:
            self.offset = os.path.getsize(str(path))
        except OSError:
            self.offset = 0
        self.rest = b""

    def read(self):
        try:
            with open(str(self.path), "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return ""
        self.offset += len(data)
        data = self.rest + data
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        return data[:cut].decode("utf-8", "replace")


class Watch:
    """The progress display of `folds` folds trained `jobs` at a time."""

    def __init__(self, folds, jobs, stream=None, tty=None, clock=time.time, stamp=_stamp):
        self.stream = stream or sys.stdout
        self.tty = bool(self.stream.isatty()) if tty is None else tty
        self.clock, self.stamp = clock, stamp
        self.start = clock()
        self.total, self.jobs = folds, jobs
        self.running = collections.OrderedDict()   # fold -> [follower, reading, start, last]
        self.durations = []      # seconds of the folds finished
        self.ended_count = 0
        self.drawn = 0           # lines of the block on the terminal
        self.last_draw = None
        self.last_run_line = self.start

    # -- what the runner tells

    def started(self, fold, fold_dir):
        """Before fold's process starts: its caffe.log is followed from here."""
        now = self.clock()
        self.running[fold] = [Follower(fold_dir / layout.CAFFE_LOG_NAME), progress.Reading(),
                              now, (now, None)]

    def ended(self, fold, seconds, finished):
        self.running.pop(fold, None)
        self.ended_count += 1
        if finished:
            self.durations.append(seconds)
        if self.tty:      # the block without the fold at once
            self._erase()
            self._draw(self.clock())
        elif self.ended_count < self.total:
            self._write(self.stamped(self.run_text(self.clock())))
            self.last_run_line = self.clock()

    def say(self, text):
        """A line of the runner's (start, finish, failure), above the block."""
        self._erase()
        self._write(self.stamped(text))
        if self.tty:
            self._draw(self.clock())

    def poll(self):
        now = self.clock()
        for follower, reading, _, _ in self.running.values():
            reading.feed(follower.read())
        if self.tty:
            if self.last_draw is None or now - self.last_draw >= TTY_INTERVAL:
                self._erase()
                self._draw(now)
            return
        for fold, entry in self.running.items():
            status = self.status(fold, now)
            if progress.due(entry[3], status, now):
                self._write(self.stamped(progress.fold_line(status)))
                entry[3] = progress.printed(entry[3], status, now)
        if self.running and now - self.last_run_line >= progress.PLAIN_INTERVAL:
            self._write(self.stamped(self.run_text(now)))
            self.last_run_line = now

    def close(self):
        self._erase()

    # -- what is shown

    def stamped(self, text):
        return "[%s] %s" % (self.stamp(), text)

    def status(self, fold, now):
        _, reading, start, _ = self.running[fold]
        return progress.status(fold, reading, now - start)

    def run_text(self, now):
        statuses = [self.status(fold, now) for fold in self.running]
        waiting = max(0, self.total - self.ended_count - len(statuses))
        eta = progress.run_eta([(s.elapsed, s.eta) for s in statuses], waiting,
                               self.durations, self.jobs)
        return progress.run_line(len(self.durations), len(statuses), waiting,
                                 now - self.start, eta)

    def block(self, now):
        return [progress.fold_line(self.status(fold, now)) for fold in self.running] + [
            self.run_text(now)]

    # -- the terminal

    def _write(self, text):
        self.stream.write(text + "\n")
        self.stream.flush()

    def _erase(self):
        if self.tty and self.drawn:
            # up to the block's first line, then clear to the end of the screen
            self.stream.write("\x1b[%dA\r\x1b[J" % self.drawn)
            self.drawn = 0

    def _draw(self, now):
        columns = shutil.get_terminal_size((UNKNOWN_WIDTH, 24)).columns
        width = (columns if columns > 20 else UNKNOWN_WIDTH) - 1   # 0: a pty of unknown size
        lines = [line[:width] for line in self.block(now)]   # a wrapped line breaks the count
        self.stream.write("".join(line + "\n" for line in lines))
        self.stream.flush()
        self.drawn = len(lines)
        self.last_draw = now
