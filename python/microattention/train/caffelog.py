"""Read the log of `caffe train` (glog output, GLOG_minloglevel=0) into one
row per iteration, and draw its learning curve. Python 3 (upstream
tools/extra/parse_log.py is Python 2 only).

Lines read (anything else is skipped):
  I1128 08:27:51.955415 16 solver.cpp:239] Iteration 20 (12.5 iter/s, 1.6s/20 iters), loss = 0.52
      (also the final `Iteration 2500, loss = 0.41` and the old form without the rate)
  I1128 08:27:51.955430 16 solver.cpp:258]     Train net output #0: loss = 0.52 (* 1 = 0.52 loss)
  I1128 08:27:51.955448 16 sgd_solver.cpp:112] Iteration 20, lr = 0.001
  I1128 08:27:51.950207 16 solver.cpp:347] Iteration 40, Testing net (#0)
  I1128 08:27:51.955322 16 solver.cpp:414]     Test net output #0: accuracy = 0.25
A train output belongs to the latest `Iteration N ..., loss` line, a test
output to the latest `Testing net` line. Text before the glog prefix (a
`docker compose` service name, say) is ignored.

Row fields:
  iteration  the solver iteration
  seconds    glog time of the last line that gave a value of this row,
             since the first glog line of the log (glog has no year: a month
             going backwards is taken as a new year); empty without timestamps
  lr         the learning rate used by the update of this iteration
  loss       the loss the solver displays (averaged over `average_loss`
             iterations; equal to train_loss when average_loss is 1)
  train_<name>       train net output <name> (train_loss, ...)
  test_<name>        test net #0 output <name> (test_accuracy, test_loss)
  test<k>_<name>     test net #k output, k >= 1
A log holding several runs (a resumed run appended to it) gives one row per
iteration; a later value replaces an earlier one.
"""
import csv
import datetime
import io
import re

from microattention import files
from microattention.errors import UserError

_NUMBER = r"([-+]?(?:nan|inf|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))"
_GLOG = re.compile(r"(?:^|[\s|])([IWEF])(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6})\s+\d+\s+"
                   r"[^\]\s]+\] ?(.*)$")
_TRAIN = re.compile(r"^Iteration (\d+)(?: \([^)]*\))?, loss = " + _NUMBER)
_LR = re.compile(r"^Iteration (\d+), lr = " + _NUMBER)
_TESTING = re.compile(r"^Iteration (\d+), Testing net \(#(\d+)\)")
_OUTPUT = re.compile(r"^(Train|Test) net output #\d+: (\S+) = " + _NUMBER)

FIXED = ["iteration", "seconds", "lr", "loss"]


def _number(text):
    return float(text)  # float() reads nan, -nan, inf as caffe prints them


class Clock:
    """glog timestamps (no year) -> seconds since the first one."""

    def __init__(self):
        self.start = None
        self.year = 2000   # a leap year, so that 29 February parses
        self.month = None

    def seconds(self, month, day, hour, minute, second, micro):
        if self.month is not None and month < self.month:
            self.year += 1
        self.month = month
        try:
            when = datetime.datetime(self.year, month, day, hour, minute, second, micro)
        except ValueError:
            return None
        if self.start is None:
            self.start = when
        return (when - self.start).total_seconds()


def glog_message(line, clock):
    """(seconds on `clock` or None, the message) of one log line; a line
    without the glog prefix is its own message."""
    match = _GLOG.search(line)
    if not match:
        return None, line.strip()
    return (clock.seconds(*(int(g) for g in match.group(2, 3, 4, 5, 6, 7))),
            match.group(8).strip())


def train_loss(message):
    """(iteration, displayed loss) of an `Iteration N ..., loss = X` message,
    else None."""
    found = _TRAIN.match(message)
    return (int(found.group(1)), _number(found.group(2))) if found else None


def parse_log(text):
    """Rows (OrderedDicts, see the module docstring) of a caffe train log
    given as text, sorted by iteration."""
    rows = {}
    clock = Clock()
    train_iter = None
    test_iter = test_net = None

    def put(iteration, key, value, seconds):
        row = rows.setdefault(iteration, {"iteration": iteration})
        row[key] = value
        if seconds is not None:
            row["seconds"] = seconds

    for line in text.splitlines():
        seconds, message = glog_message(line, clock)
        if not message.startswith(("Iteration", "Train net", "Test net")):
            continue
        found = train_loss(message)
        if found:
            train_iter = found[0]
            put(train_iter, "loss", found[1], seconds)
            continue
        found = _LR.match(message)
        if found:
            put(int(found.group(1)), "lr", _number(found.group(2)), seconds)
            continue
        found = _TESTING.match(message)
        if found:
            test_iter, test_net = int(found.group(1)), int(found.group(2))
            continue
        found = _OUTPUT.match(message)
        if found:
            kind, name, value = found.group(1), found.group(2), _number(found.group(3))
            if kind == "Train" and train_iter is not None:
                put(train_iter, "train_" + name, value, seconds)
            elif kind == "Test" and test_iter is not None:
                prefix = "test_" if test_net == 0 else "test%d_" % test_net
                put(test_iter, prefix + name, value, seconds)
    return [rows[i] for i in sorted(rows)]


def columns(rows):
    """iteration, seconds, lr, loss, then train_* and test* in the order
    they first appear."""
    extra = []
    for row in rows:
        for key in row:
            if key not in FIXED and key not in extra:
                extra.append(key)
    train = [k for k in extra if k.startswith("train_")]
    return FIXED + train + [k for k in extra if k not in train]


def read_log(path):
    """Rows of a log file; a UserError when it holds no iteration."""
    try:
        with open(str(path), encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise UserError("caffe log %s does not exist" % path)
    except IsADirectoryError:
        raise UserError("caffe log %s is a folder" % path)
    rows = parse_log(text)
    if not rows:
        raise UserError("caffe log %s holds no training iteration (lines like 'Iteration N, "
                        "lr = X'); run caffe with GLOG_minloglevel=0 and keep its stderr"
                        % path)
    return rows


def _format(value):
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return "%.9g" % value


def rows_csv(rows):
    """The rows as CSV text (blank where an iteration has no such value)."""
    names = columns(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        cells = []
        for name in names:
            value = row.get(name)
            cells.append("%.6f" % value if name == "seconds" and value is not None
                         else _format(value))
        writer.writerow(cells)
    return buffer.getvalue()


def write_csv(rows, path):
    return files.atomic_write(path, rows_csv(rows))


def plot(rows, path, title=None):
    """Learning curve PNG: losses (train and test) on top, test accuracies in
    the middle, learning rate (log scale) below, against the iteration.
    Panels without data are left out."""
    import matplotlib  # lazy: matplotlib loads slowly, only pictures need it
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # lazy: matplotlib loads slowly, only pictures need it

    def series(key):
        points = [(r["iteration"], r[key]) for r in rows if r.get(key) is not None]
        return [p[0] for p in points], [p[1] for p in points]

    names = columns(rows)
    losses = [k for k in names if k == "loss" or (k.startswith("test") and k.endswith("loss"))]
    accuracies = [k for k in names if k.startswith("test") and "acc" in k]
    panels = [(label, keys) for label, keys in (("loss", losses), ("accuracy", accuracies),
                                                ("learning rate", ["lr"]))
              if any(series(k)[0] for k in keys)]
    if not panels:
        raise UserError("nothing to plot: the log holds no loss, accuracy or learning rate")
    fig, axes = plt.subplots(len(panels), 1, sharex=True, squeeze=False,
                             figsize=(7.0, 2.2 + 1.8 * len(panels)))
    for ax, (label, keys) in zip(axes[:, 0], panels):
        for key in keys:
            x, y = series(key)
            if x:
                name = "train loss (displayed)" if key == "loss" else key.replace("_", " ")
                ax.plot(x, y, marker="." if len(x) < 50 else None,
                        drawstyle="steps-post" if key == "lr" else "default", label=name)
        if label == "learning rate" and all(v > 0 for v in series("lr")[1]):
            ax.set_yscale("log")
        if label == "accuracy":
            ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        if label != "learning rate":
            ax.legend(fontsize=8, loc="best")
    axes[-1, 0].set_xlabel("iteration")
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return files.atomic_write(path, buffer.getvalue())

