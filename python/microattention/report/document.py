"""The whole report: its sections in order, written as report.md, report.html
and the PNG figures.
"""
import collections
import datetime
import os
import pathlib
import tempfile

from microattention import files, paper
from microattention.errors import UserError
from microattention.report.load import load_runs
from microattention.report.plots import figure_confusion, figure_table5, figures_curves, compact_png
from microattention.report.provenance import report_environment, section_provenance
from microattention.report.render import to_html, to_markdown
from microattention.report.setup import section_setup
from microattention.report.tables import PAPER_TABLE, SECTIONS, section_folds, section_runs
from microattention.train import layout

STAMP_PREFIX = "Report made "


# ------------------------------------------------------------------ the report


def build(runs, stamp=None):
    """{file name: bytes or text} of the report of `runs` (one protocol)."""
    protocol = runs[0].protocol
    stamp = stamp or datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z"
    title = "Run report: %s (%s)" % (protocol.upper() if protocol != "pretrain" else
                                     "pre-training", PAPER_TABLE[protocol])
    blocks = [("h", 1, title),
              ("p", STAMP_PREFIX + stamp + " by `python3 -m microattention report`."),
              ("p", "Compared with: " + paper.CITATION)]
    for run in runs:
        blocks.append(("p", "**%s**: `%s`, %s." % (run.label, run.path, run.status())))
        if not run.complete:
            blocks.append(("warn", "%s: %s. Its numbers pool only the finished folds and are "
                                   "PARTIAL, not the protocol's result (number of folds from "
                                   "%s)." % (run.label, run.status().split(" - ")[0],
                                             run.expected_source)))
        if run.per_fold_init:
            blocks.append(("p", "%s: each fold started from its own seed and its own start "
                                "weights (per-fold initialisation, asked for by the run's "
                                "maker): seeds %s." % (run.label, ", ".join(
                                    str(f.settings.get("seed")) for f in run.folds))))
        if run.scaled():
            blocks.append(("warn", "%s: SCALED: trained %d of the protocol's %d epochs (a dress "
                                   "rehearsal, or --epochs). Its numbers are NOT the "
                                   "protocol's result." % ((run.label,) + run.scaled())))
    images = collections.OrderedDict()
    with tempfile.TemporaryDirectory(prefix="ma-report-") as tmp:
        blocks += SECTIONS[protocol](runs)
        if protocol == "cde":
            name, caption, data = figure_table5(tmp)
            data = images[name] = compact_png(data)
            blocks.append(("img", name, caption, data))
        blocks += section_runs(runs)
        blocks += section_setup(runs)
        for run in runs:
            blocks.append(("h", 2, "Run: %s" % run.label))
            blocks.append(("p", "Folder `%s`; protocol `%s`, net `%s`; %s." % (
                run.path, run.protocol, run.net, run.status())))
            blocks += section_folds(run)
            figure = figure_confusion(run, tmp)
            if figure:
                name, caption, data = figure
                data = images[name] = compact_png(data)
                blocks.append(("img", name, caption, data))
            blocks.append(("h", 3, "Learning curves"))
            curves, notes = figures_curves(run, tmp)
            for name, caption, data in curves:
                data = images[name] = compact_png(data)
                blocks.append(("img", name, caption, data))
            if notes:
                blocks.append(("list", ["no curve for " + n for n in notes]))
            blocks += section_provenance(run)
    blocks += [("h", 2, "Where this report was made"), ("list", report_environment())]
    out = collections.OrderedDict()
    out["report.md"] = to_markdown(blocks)
    out["report.html"] = to_html(blocks, title)
    for name, data in images.items():
        out[name] = data
    return out


def write_report(paths, out_dir=None, index=None, stamp=None, per_fold_init=False):
    runs = load_runs(paths, index, per_fold_init)
    out_dir = pathlib.Path(out_dir or "report-%s" % runs[0].protocol)
    real_out = os.path.realpath(str(out_dir))
    for given in paths:
        if os.path.realpath(str(given)) == real_out:
            raise UserError("--out %s is an input (%s); choose another folder" % (out_dir, given))
    for run in runs:
        for folder in [run.path] + [f.path for f in run.folds]:
            real = os.path.realpath(str(folder))
            if real_out == real or real_out.startswith(real + os.sep) and folder is not run.path:
                raise UserError("--out %s is an input (%s); choose another folder"
                                % (out_dir, folder))
    inputs = [f.path / name for run in runs for f in run.folds
              for name in (layout.PREDICTIONS_NAME, layout.CAFFE_LOG_NAME,
                           layout.SETTINGS_NAME, layout.DONE_NAME, layout.PROVENANCE_NAME,
                           "solver.prototxt")]
    content = build(runs, stamp)
    targets = collections.OrderedDict((out_dir / name, data) for name, data in content.items())
    files.check_outputs(list(targets), inputs, {t: "--out" for t in targets})
    files.write_together(targets)
    return runs, list(targets)

