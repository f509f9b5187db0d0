"""The caffe tool: where it is, its version (the one probe), and running it
with its output appended to a fold's caffe.log."""
import ctypes
import datetime
import functools
import os
import pathlib
import re
import shutil
import signal
import subprocess

from microattention.errors import UserError


def now():
    """UTC time to the second, as the logs and records write it."""
    return datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z"


def caffe_binary():
    found = shutil.which(os.environ.get("MA_CAFFE", "caffe"))
    if not found:
        raise UserError("the caffe tool is not on PATH; run inside the image "
                        "(docker run ... localhost/micro-attention train_fold.sh ...)")
    return found


def probe_version():
    """The last line of `caffe --version`; "unknown" when it cannot be run."""
    try:
        out = subprocess.run([caffe_binary(), "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
        return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.lru_cache(maxsize=None)
def caffe_version():
    """The caffe version of provenance.json and the report (one probe per
    process); "no caffe on PATH" without the tool."""
    try:
        return probe_version()
    except UserError:
        return "no caffe on PATH"


def die_with_parent():
    """Caffe must not outlive a killed train-fold (it would keep writing
    snapshots into a folder a resumed run uses)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# Lines of a net's set-up (about 2000 per net) that repeat unchanged in every
# epoch's caffe process; kept for the first epoch only.
_SETUP_LINE = re.compile(r"\] (?:Creating Layer|Setting up|Top shape|Memory required|"
                         r".* (?:does not )?needs? backward computation|This network produces|"
                         r"Network initialization done|Initializing net from parameters|"
                         r"The NetState phase|Adding weight|Ignoring source layer|"
                         r"Copying source layer|Sharing parameters|.* -> )")
_GLOG_LINE = re.compile(r"^[IWEF]\d{4} ")


def _copy_output(proc, log, full_setup):
    dropping = False
    for line in proc.stdout:
        if not full_setup:
            if _GLOG_LINE.match(line):
                dropping = bool(_SETUP_LINE.search(line))
            if dropping:
                continue
        log.write(line)


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_caffe(argv, log_path, note, full_setup=True):
    """Run caffe with its output appended to log_path; returns the exit code.
    Without full_setup the per-layer set-up lines are left out of the log.
    Ctrl-C / SIGTERM stops caffe and re-raises."""
    env = dict(os.environ)
    env.setdefault("GLOG_logtostderr", "1")      # no glog files under /tmp
    env.pop("GLOG_minloglevel", None)            # the log must hold the iteration lines
    with open(str(log_path), "a", buffering=1) as log:   # line by line: users tail it
        log.write("# microattention train-fold %s: %s\n# %s\n" % (now(), note, " ".join(argv)))
        if not full_setup:
            log.write("# (the nets' set-up lines are in the log of the first epoch)\n")
        log.flush()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                cwd=str(pathlib.Path(log_path).parent),
                                preexec_fn=die_with_parent, universal_newlines=True,
                                errors="replace")
        try:
            _copy_output(proc, log, full_setup)
            return proc.wait()
        except BaseException:
            _stop(proc)
            log.write("# microattention train-fold %s: stopped\n" % now())
            raise


def log_tail(path, lines=15):
    try:
        text = pathlib.Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("  " + l for l in text[-lines:])
