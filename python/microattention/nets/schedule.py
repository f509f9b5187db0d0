"""A protocol's schedule in iterations: the paper states its schedules in
epochs ("divided by 10 every 10 epochs") while Caffe counts iterations, so a
solver depends on the training-set size N at the protocol's batch B:

    stepsize      = ceil(N * step_epochs / B)
    max_iter      = ceil(N * total_epochs / B)
    test_interval = snapshot = ceil(N / B)          (every epoch)
    test_iter     = test set size / test batch      (exactly once over the set)
"""
import collections
import fractions
import math

from microattention import protocols
from microattention.errors import UserError


class SolverError(UserError, ValueError):
    """A solver that cannot be written: bad sizes, an unknown solver or field."""


def positive_int(value, what):
    """value, checked to be a positive whole number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SolverError("%s must be a positive whole number, got %r" % (what, value))
    return value


def epochs_to_iterations(n_images, batch, epochs):
    """Iterations that show the net `epochs` passes over `n_images` at `batch`
    (rounded up, computed exactly)."""
    if n_images <= 0 or batch <= 0 or epochs <= 0:
        raise SolverError("epochs_to_iterations needs positive sizes, got images=%r batch=%r "
                          "epochs=%r" % (n_images, batch, epochs))
    return int(math.ceil(fractions.Fraction(n_images) * fractions.Fraction(epochs)
                         / fractions.Fraction(batch)))


def schedule(protocol, train_images, test_images):
    """The iteration fields of `protocol`'s solver for a training set of
    `train_images` and a test set of `test_images` (at the protocol's batch
    sizes). The test batch must divide the test set: Caffe has no partial test
    batch and would wrap around, counting some images twice."""
    p = protocols.get(protocol)
    n = positive_int(train_images, "training-set size")
    t = positive_int(test_images, "test-set size")
    if t % p.test_batch:
        raise SolverError(
            "protocol %s: the test set of %d images is not a multiple of its test batch %d; "
            "test_iter x batch could not cover it exactly once" % (p.name, t, p.test_batch))
    epoch = epochs_to_iterations(n, p.batch, 1)
    return collections.OrderedDict([
        ("stepsize", epochs_to_iterations(n, p.batch, p.step_epochs)),
        ("max_iter", epochs_to_iterations(n, p.batch, p.total_epochs)),
        ("test_iter", t // p.test_batch),
        ("test_interval", epoch),
        ("snapshot", epoch),   # resumable at every epoch
    ])
