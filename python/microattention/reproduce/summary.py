"""What reproduce prints and keeps: the plan with each stage's disk and time,
the plan files (OUT/reproduce/plan.txt, plan.json), the scale an --out was
made at, and OUT/reproduce/summary.md at the end (SCALED when scaled)."""
import collections
import os
import shutil

from microattention import files
from microattention.errors import UserError
from microattention.reproduce import estimate, stages
from microattention.reproduce.eta import duration
from microattention.reproduce.discover import DISPLAY, FOLDER_NAMES, TABLES
from microattention.reproduce.plan import shell_line
from microattention.train.disk import human

PLAN_TEXT = "plan.txt"
PLAN_JSON = "plan.json"
SETTINGS_NAME = "settings.json"
SUMMARY_NAME = "summary.md"


def say(text):
    print(text, flush=True)


def _free(path):
    while path and not os.path.exists(path):
        parent = os.path.dirname(path)
        path = parent if parent != path else None
    return shutil.disk_usage(path or ".").free


def plan_text(settings, stage_list, cost, notes, why_no_time):
    scale = settings.scale
    lines = ["", "plan: %d stages into %s%s" % (len(stage_list), settings.out, (
        ", SCALED: every epoch count x %g (a dress rehearsal, not a result)" % scale
        if scale != 1 else ""))]
    for number, stage in enumerate(stage_list, start=1):
        c = cost[stage.name]
        done = " (finished before: skipped)" if stages.finished(settings.out, stage) else ""
        lines.append("  %-8s %-40s disk %-9s time %-9s %s%s" % ("[%d/%d]" % (
            number, len(stage_list)), stage.name, human(c.bytes), duration(c.seconds),
            c.note, done))
        lines.append("      " + shell_line(stage.argv))
    todo = [cost[s.name] for s in stage_list if not stages.finished(settings.out, s)]
    kept = sum(c.bytes for c in todo)
    peak = max([c.peak for c in todo] or [0])
    known = [c.seconds for c in todo if c.seconds is not None]
    unknown = len(todo) - len(known)
    device = "GPU %d" % settings.gpu if settings.gpu is not None else "CPU"
    lines += ["", "disk: about %s kept in %s, plus up to %s while a fold trains; %s free there"
              % (human(kept), settings.out, human(peak), human(_free(settings.out)))]
    if why_no_time:
        lines.append("time: training time unknown, %s" % why_no_time)
    lines.append("time: about %s on this machine (%s)%s; from `caffe time` at batch %d, %d "
                 "iterations, cached in %s; LMDB building not counted" % (
                     duration(sum(known)), device, ", %d stage(s) not estimated" % unknown
                     if unknown else "", estimate.TIME_BATCH, estimate.TIME_ITERATIONS,
                     os.path.join(stages.state_dir(settings.out), estimate.CACHE_NAME)))
    if settings.jobs > 1 and settings.gpu is None:
        lines.append("      (--jobs %d share the CPU's cores: the time is about the same as "
                     "with one job)" % settings.jobs)
    for note in notes:
        lines.append("deviation: " + note)
    return "\n".join(lines) + "\n"


def save_plan(settings, stage_list, text):
    folder = stages.state_dir(settings.out)
    files.output_dir(folder)
    files.atomic_write(os.path.join(folder, PLAN_TEXT), text)
    files.write_json(os.path.join(folder, PLAN_JSON), [
        collections.OrderedDict([("stage", s.name), ("argv", list(s.argv)),
                                 ("command", shell_line(s.argv))]) for s in stage_list])


def check_same_scale(settings):
    """An --out holds one scale: a scaled rehearsal never mixes with a full run."""
    path = os.path.join(stages.state_dir(settings.out), SETTINGS_NAME)
    old = files.read_json(path, "remove it (and the run) to start again") \
        if os.path.isfile(path) else None
    if old is not None and old.get("scale") != settings.scale:
        raise UserError("--out %s holds a reproduction at --scale %g; this one is --scale %g. "
                        "Give another --out" % (settings.out, old.get("scale"), settings.scale))
    files.output_dir(stages.state_dir(settings.out))
    files.write_if_changed(path, files.to_json({"scale": settings.scale}))


def write_summary(settings, found, stage_list, records, notes, seconds):
    """OUT/reproduce/summary.md: the tables made and where, deviations, the
    stages run or skipped; SCALED on top when scaled."""
    lines = ["# Reproduction summary", ""]
    if settings.scale != 1:
        lines += ["> **" + stages.scaled_note(settings.scale).strip() + "**", ""]
    lines += ["Databases: " + ", ".join(
        "%s %s" % (DISPLAY[n], "present" if n in found.present else "missing")
        for n in FOLDER_NAMES) + ".", "", "| table | what | output |", "|---|---|---|"]
    for stage in stage_list:
        table = stage.info.get("table")
        if stage.group == "report":
            name = "Table %d%s" % (table, " and 5" if table == 4 else "") if table \
                else "pre-training"
            what = TABLES[table].what if table else "validation accuracy (section 4.1)"
            mark = " (SCALED)" if settings.scale != 1 else ""
            lines.append("| %s%s | %s | `%s` |" % (name, mark, what, stage.info["folder"]))
    lines += [""] + ["Deviation: %s." % n for n in notes] + ["", "| stage | command | ran |",
                                                            "|---|---|---|"]
    for stage in stage_list:
        rec = records.get(stage.name)
        ran = "%.0f s" % rec["seconds"] if rec else "finished before"
        lines.append("| %s | `%s` | %s |" % (stage.name, shell_line(stage.argv), ran))
    lines += ["", "This call took %.0f s; commands in %s." % (
        seconds, os.path.join(stages.state_dir(settings.out), stages.COMMANDS_LOG))]
    path = os.path.join(stages.state_dir(settings.out), SUMMARY_NAME)
    files.atomic_write(path, "\n".join(lines) + "\n")
    return path
