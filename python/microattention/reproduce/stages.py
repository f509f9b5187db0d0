"""Running the plan: each stage as a subprocess of exactly the argv the plan
printed (its output let through live), logged to OUT/reproduce/commands.log,
and a stage record OUT/reproduce/stages/<stage>.json written when it ends
well. A stage whose record holds the same command is not run again."""
import collections
import datetime
import os
import signal
import subprocess
import sys
import time

from microattention import files
from microattention.errors import UserError
from microattention.reproduce.eta import Clock
from microattention.reproduce.plan import shell_line

STATE_DIR = "reproduce"
COMMANDS_LOG = "commands.log"
SCALED_NAME = "SCALED.txt"


def state_dir(out):
    return os.path.join(out, STATE_DIR)


def record_path(out, stage):
    return os.path.join(state_dir(out), "stages", stage.name + ".json")


def finished(out, stage):
    """True when the stage's record holds the same command (argv)."""
    path = record_path(out, stage)
    if not os.path.isfile(path):
        return False
    record = files.read_json(path, "remove it to run that stage again")
    return isinstance(record, dict) and record.get("argv") == list(stage.argv)


def now():
    return datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z"


def log_command(out, stage):
    """Append the command to commands.log: a '#' line naming the stage, then
    the command line itself."""
    path = os.path.join(state_dir(out), COMMANDS_LOG)
    files.output_dir(state_dir(out))
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("# %s stage %s\n%s\n" % (now(), stage.name, shell_line(stage.argv)))


def logged_commands(out):
    """The command lines of commands.log, in the order they were run."""
    path = os.path.join(state_dir(out), COMMANDS_LOG)
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [l.rstrip("\n") for l in handle if l.strip() and not l.startswith("#")]


def scaled_note(scale):
    return ("SCALED dress rehearsal (--scale %g): every epoch count multiplied by %g. These "
            "numbers are NOT a result of the paper's protocol and must not be reported as "
            "one.\n" % (scale, scale))


def run_stage(out, stage, number, total, say, scale=1, runner=None):
    """Run one stage unless finished before; returns its record (None when
    skipped). A failing command is a UserError naming it."""
    label = "[%d/%d] %s" % (number, total, stage.name)
    if finished(out, stage):
        say("%s: finished before (%s), skipped" % (label, record_path(out, stage)))
        return None
    say("%s: %s" % (label, shell_line(stage.argv)))
    log_command(out, stage)
    started = time.time()
    sys.stdout.flush()
    sys.stderr.flush()
    code = (runner or _run)(list(stage.argv))
    seconds = round(time.time() - started, 1)
    if code != 0:
        raise UserError("stage %s failed (exit %d) after %.0f s:\n  %s\nfix what it says and "
                        "run the same reproduce command again: finished stages are skipped"
                        % (stage.name, code, seconds, shell_line(stage.argv)))
    if scale != 1 and stage.info.get("folder"):
        files.output_dir(stage.info["folder"])
        files.atomic_write(os.path.join(stage.info["folder"], SCALED_NAME), scaled_note(scale))
    record = collections.OrderedDict([("stage", stage.name), ("argv", list(stage.argv)),
                                      ("command", shell_line(stage.argv)),
                                      ("finished", now()), ("seconds", seconds)])
    files.output_dir(os.path.dirname(record_path(out, stage)))
    files.write_json(record_path(out, stage), record)
    say("%s: done in %.0f s" % (label, seconds))
    return record


def _run(argv):
    """The command as a child process, its output straight to the terminal.
    Interrupted (Ctrl-C, or docker stop made one), the child is given SIGINT
    too, so it stops as its own Ctrl-C handling says, and is waited for."""
    try:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise UserError("cannot run %s: %s" % (argv[0], exc.strerror or exc))
    try:
        return child.wait()
    except KeyboardInterrupt:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
        child.wait()
        raise


def run_all(out, stages, say, scale=1, runner=None, estimates=None, now=time.time):
    """Every stage in order; {stage name: record or None (skipped)}. With
    estimates ({stage name: seconds or None}), the overall ETA is said before
    each stage that runs."""
    done = collections.OrderedDict()
    clock = Clock(estimates or {}, now)
    for number, stage in enumerate(stages, start=1):
        if estimates is not None and not finished(out, stage):
            say(clock.line([s.name for s in stages[number - 1:] if not finished(out, s)]))
        done[stage.name] = record = run_stage(out, stage, number, len(stages), say, scale,
                                              runner)
        if record:
            clock.ran(stage.name, record["seconds"])
    return done
