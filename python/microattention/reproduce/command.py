"""Reproduce the paper's tables from your own copies of the databases.

  reproduce --data DIR --out DIR [--tables 2,3,4,5,6] [--plan] [--scale S] ...

Finds each database under --data by its usual folder name (docs/reproduce.md)
or where --dataset NAME=PATH points, says which are present and which tables
they allow, prints the plan (each stage, the exact command it runs, the disk
it needs and the time on this machine from a short `caffe time`), and runs
it: index -> faces -> weights -> pre-training -> transfers -> the protocol
runs -> one report per table beside the paper's. Each stage is a
`python3 -m microattention ...` command run as printed (logged to
OUT/reproduce/commands.log); a finished stage is not run again, so the same
command continues after a stop. --plan stops after the plan.

--scale S multiplies every epoch count (a dress rehearsal): every report
and OUT/reproduce/summary.md say SCALED, and such numbers are not results.
"""
import argparse
import os
import pathlib
import sys
import time

from microattention import files
from microattention.errors import UserError
from microattention.reproduce import discover, estimate, plan, stages, summary

EXAMPLES = """\
examples:
  python3 -m microattention reproduce --data /data --out reproduction --plan
  python3 -m microattention reproduce --data /data --out reproduction --jobs 2
  python3 -m microattention reproduce --data /data --dataset casme2=/mnt/CASME2 \\
      --tables 6 --out loso-only
  python3 -m microattention reproduce --data tree --scale 0.02 --out rehearsal \\
      --start-weights weights/resnet10_fillers.caffemodel
"""


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    parser.add_argument("--data", metavar="DIR",
                        help="folder holding the databases under their usual names "
                             "(casme2/, samm/, smic/, ckplus/, oulu/, jaffe/, mug/ or the "
                             "release names: docs/reproduce.md)")
    parser.add_argument("--dataset", action="append", default=[], metavar="NAME=PATH",
                        help="a database elsewhere (NAME as in 'index --dataset'); repeat")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="where everything goes: index/, faces/, weights/, runs/, "
                             "tables/, reproduce/ (plan, commands.log, stage records)")
    parser.add_argument("--tables", default="2,3,4,5,6", metavar="LIST",
                        help="the paper's tables to make (default 2,3,4,5,6)")
    parser.add_argument("--nets", nargs="+", choices=plan.NETS, default=list(plan.NETS),
                        help="nets to train (default all three)")
    parser.add_argument("--gpu", type=int, default=None, metavar="N",
                        help="train and time on this GPU (CUDA image); default CPU")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="folds trained at once, and face workers (default 1)")
    parser.add_argument("--scale", type=float, default=1.0, metavar="S",
                        help="multiply every epoch count by S (a dress rehearsal; every "
                             "output says SCALED)")
    parser.add_argument("--folds", type=int, default=None, metavar="N",
                        help="train only the first N folds of each protocol (a dress "
                             "rehearsal; every table then says PARTIAL)")
    parser.add_argument("--start-weights", metavar="W",
                        help="start from this caffemodel instead of fetching the ImageNet "
                             "ResNet-10 (offline); flagged as a non-ImageNet start")
    parser.add_argument("--mug-apex", metavar="FILE",
                        help="MUG's apex frames (as 'index --mug-apex'); without it the "
                             "middle frame of each MUG clip")
    parser.add_argument("--skip-bad", action="store_true",
                        help="index and faces leave unusable samples out (counted) "
                             "instead of stopping")
    parser.add_argument("--plan", action="store_true",
                        help="print what was found and the plan, then stop")


def clone_path(text):
    """A relative path as seen from the clone (workspace/tree) works in the
    container too, whose working directory is the clone's workspace/ (as
    files.input_path, and for an --out that does not exist yet)."""
    if text is None or os.path.isabs(text) or os.path.exists(text):
        return text
    found = files.input_path(text)
    if found != text:
        return found
    parts = pathlib.PurePath(text).parts
    workspace = files.project_root() / "workspace"
    if parts[0] == "workspace" and os.path.realpath(str(workspace)) == os.path.realpath("."):
        return os.path.join(*parts[1:]) if len(parts) > 1 else "."
    return text


def clone_paths(args):
    args.data, args.out = clone_path(args.data), clone_path(args.out)
    args.start_weights = clone_path(args.start_weights)
    args.mug_apex = clone_path(args.mug_apex)
    args.dataset = ["%s=%s" % (v.partition("=")[0], clone_path(v.partition("=")[2]))
                    if "=" in v else v for v in args.dataset]


def check_args(args):
    if args.jobs < 1:
        raise UserError("--jobs %d: must be at least 1" % args.jobs)
    if args.folds is not None and args.folds < 1:
        raise UserError("--folds %d: must be at least 1" % args.folds)
    if not args.scale > 0:
        raise UserError("--scale %g: must be above 0" % args.scale)
    if args.data is None and not args.dataset:
        raise UserError("give --data DIR (the databases under their usual folder names) "
                        "or --dataset NAME=PATH")
    if args.mug_apex and not os.path.isfile(args.mug_apex):
        raise UserError("--mug-apex %s: no such file" % args.mug_apex)
    if args.start_weights and not os.path.isfile(args.start_weights):
        raise UserError("--start-weights %s: no such file" % args.start_weights)
    if args.data is not None and os.path.normpath(args.out) == os.path.normpath(args.data):
        raise UserError("--out %s is --data; give another folder" % args.out)


def settings_of(args, found, tables):
    made = [t for t in tables if discover.makeable(t, found.present)[0]]
    return plan.Settings(os.path.normpath(args.out), found.present, made, list(args.nets),
                         args.gpu, args.jobs, args.scale, args.start_weights, args.skip_bad,
                         args.folds, args.mug_apex)


def run(args):
    clone_paths(args)
    check_args(args)
    say = summary.say
    found = discover.discover(args.data, discover.parse_overrides(args.dataset))
    tables = discover.parse_tables(args.tables)
    if args.scale != 1:
        say("SCALED: --scale %g; a dress rehearsal, not a result\n" % args.scale)
    for line in discover.summary_lines(found, tables):
        say(line)
    settings = settings_of(args, found, tables)
    estimator = estimate.Estimator(settings)
    stage_list, notes = plan.make_plan(settings, estimator.fold_ids)
    estimator.times, why = estimate.caffe_times(stages.state_dir(settings.out), args.gpu,
                                                plan.NETS, say)
    costs = estimator.costs(stage_list)
    text = summary.plan_text(settings, stage_list, costs, notes, why)
    say(text)
    if not args.plan:
        summary.check_same_scale(settings)
    summary.save_plan(settings, stage_list, text)
    if args.plan:
        return 0
    for folder in ("index", "faces", "weights", "runs", "tables"):
        files.output_dir(os.path.join(settings.out, folder))     # the commands' --out parents
    started = time.time()
    with files.terminate_as_interrupt():
        try:
            records = stages.run_all(settings.out, stage_list, say, settings.scale,
                                     estimates={n: c.seconds for n, c in costs.items()})
        except KeyboardInterrupt:
            sys.stderr.write("microattention reproduce: interrupted; run the same command "
                             "again to continue (finished stages are skipped)\n")
            return 130
    path = summary.write_summary(settings, found, stage_list, records, notes,
                                 time.time() - started)
    say("summary: %s" % path)
    return 0
