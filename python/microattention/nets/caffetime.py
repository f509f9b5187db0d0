"""`caffe time` run on a net and its output parsed: the average forward,
backward and forward-backward milliseconds, and the per-layer times.
"""
import os
import re
import subprocess
from collections import OrderedDict

from microattention.errors import UserError

_TIME_RE = {
    "forward_ms": re.compile(r"Average Forward pass:\s*([0-9.eE+-]+)\s*ms"),
    "backward_ms": re.compile(r"Average Backward pass:\s*([0-9.eE+-]+)\s*ms"),
    "forward_backward_ms": re.compile(r"Average Forward-Backward:\s*([0-9.eE+-]+)\s*ms"),
}
# caffe.cpp prints, after "Average time per layer:", per layer and iteration:
#   "<name right-aligned in 10>\tforward: <ms> ms." and the same with backward,
# behind glog's prefix "I1128 09:00:00.123456 12345 caffe.cpp:404] ".
_LAYER_RE = re.compile(r"^(?:[IWEF]\d{4} [\d:.]+\s+\d+ \S+\] )?\s*(\S.*?)\t(forward|backward): "
                       r"([0-9.eE+-]+) ms\.\s*$")


def parse_layer_times(text):
    """OrderedDict layer -> {'forward_ms', 'backward_ms'} from `caffe time` output."""
    layers = OrderedDict()
    for line in text.splitlines():
        m = _LAYER_RE.match(line)
        if m:
            name, kind, ms = m.groups()
            layers.setdefault(name, {})[kind + "_ms"] = float(ms)
    return layers


def parse_caffe_time(text, source="caffe time"):
    """Averages and per-layer times of one `caffe time` output."""
    out = {}
    for key, rx in _TIME_RE.items():
        m = rx.search(text)
        if not m:
            raise UserError("could not find %r in the output of %s" % (key, source))
        out[key] = float(m.group(1))
    out["layers"] = parse_layer_times(text)
    return out


def caffe_time(caffe_bin, prototxt, iterations, gpu=None):
    """Run `caffe time` (TRAIN phase, forward + backward) and parse its averages."""
    env = dict(os.environ, GLOG_minloglevel="0", GLOG_logtostderr="1")
    try:
        cmd = [caffe_bin, "time", "-model", prototxt, "-iterations", str(iterations)]
        if gpu is not None:
            cmd += ["-gpu", str(gpu)]
        r = subprocess.run(cmd,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, env=env)
    except OSError as exc:
        raise UserError("cannot run %s: %s" % (caffe_bin, exc))
    fatal = _fatal_lines(r.stdout)
    if r.returncode != 0 or fatal:
        # A fatal glog line is a failure even under exit status 0 (a wrapper
        # script that does not pass caffe's status on): the averages printed
        # before it may stand on a net that never finished.
        raise UserError("caffe time failed on %s (exit %d)%s:\n%s"
                        % (prototxt, r.returncode, ": " + "; ".join(fatal) if fatal else "",
                           r.stdout[-2000:]))
    return parse_caffe_time(r.stdout, "%s time on %s" % (caffe_bin, prototxt))


# glog's fatal lines ("F1204 14:12:21.203133 21 common.cpp:66] Cannot use GPU
# ...") and the stack trace it prints after one.
_FATAL_RE = re.compile(r"^F\d{4}\b[^\]]*\] (.*)$|^\*\*\* (Check failure stack trace|"
                       r"Aborted at)")


def _fatal_lines(text):
    """The messages of glog's fatal lines in text, and its stack-trace markers."""
    return [m.group(1) or m.group(2) for m in map(_FATAL_RE.match, text.splitlines()) if m]
