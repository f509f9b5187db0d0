"""The overall ETA of a reproduce run, said before each stage: the plan's
estimates of the stages left, corrected by how the stages run so far compare
with their own estimates (the plan leaves out Caffe's start-up and LMDB
building, so it runs low; the correction learns by how much)."""
import time

# below this many estimated seconds run so far, the correction is noise
MIN_MEASURED = 30.0


def duration(seconds):
    if seconds is None:
        return "?"
    if seconds < 90:
        return "%.0f s" % seconds
    if seconds < 5400:
        return "%.0f min" % (seconds / 60)
    if seconds < 3 * 86400:
        return "%.1f h" % (seconds / 3600)
    return "%.1f days" % (seconds / 86400)


class Clock:
    """estimates: {stage name: the plan's seconds, or None when not estimated}."""

    def __init__(self, estimates, now=time.time):
        self.estimates = dict(estimates)
        self.now = now
        self.started = now()
        self.spent = 0.0       # seconds taken by this session's stages that had an estimate
        self.planned = 0.0     # what the plan gave those stages

    def ran(self, name, seconds):
        estimate = self.estimates.get(name)
        if estimate:
            self.spent += seconds
            self.planned += estimate

    def ratio(self):
        """Measured over estimated so far (1 until enough has run)."""
        return self.spent / self.planned if self.planned >= MIN_MEASURED else 1.0

    def line(self, names_left):
        left = [self.estimates.get(name) for name in names_left]
        unknown = sum(1 for s in left if s is None)
        seconds = sum(s for s in left if s) * self.ratio()
        why = ("the plan's estimate x%.2f, as the stages so far ran" % self.ratio()
               if self.planned >= MIN_MEASURED else "the plan's estimate")
        if unknown:
            why += "; %d stage(s) not estimated" % unknown
        return "overall: %s elapsed, %d stage(s) to go, about %s left (%s)" % (
            duration(self.now() - self.started), len(names_left), duration(seconds), why)
