"""Helpers of the Slurm scripts in tools/slurm/ (see tools/slurm/README.md).

  python3 -m microattention.train.slurm plan --protocol P --folds FOLDS.json -- TRAIN-FOLD OPTIONS
      checks the fold file (protocol P, split from the --index of the
      train-fold options) and prints, one per line:
        count=N        folds in the file; array task i trains the i-th (0-based)
        pending=SPEC   sbatch --array spec of the folds not finished yet with
                       these options (empty when all are)
        sha256=HEX     the fold file's checksum, checked again by every task
        run_dir=DIR    the run folder (train-fold's --run-dir or its default)
  python3 -m microattention.train.slurm fold-id --folds FOLDS.json --task I [--sha256 HEX]
      prints the fold id of array task I.
  python3 -m microattention.train.slurm report --protocol P --folds FOLDS.json -- TRAIN-FOLD OPTIONS
      when every fold of the file is finished, pools them as the run command
      does (RUN_DIR/<protocol>/<net>/predictions.csv, metrics.json,
      metrics.md); refuses, naming the unfinished folds, otherwise. It never
      trains.

An array task only knows its number (SLURM_ARRAY_TASK_ID); the fold file is
the one map from numbers to folds, so every task of an array and the submit
helper agree as long as the file does not change between submission and run
(hence the checksum). The train-fold options are parsed by train-fold's own
parser, so they are the same options with the same defaults.
"""
import argparse
import os
import pathlib
import sys

from microattention import files, protocols
from microattention.errors import UserError
from microattention.folds import split as folds_module
from microattention.train import layout, runs
from microattention.train.options import add_common_arguments
from microattention.train.settings import finished, fold_settings

ACTIONS = ("plan", "fold-id", "report")


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--protocol", metavar="hde|cde|loso")
    parser.add_argument("--folds", required=True, metavar="FOLDS.json",
                        help="the .json fold file of 'python3 -m microattention folds'")
    parser.add_argument("--task", metavar="I", help="fold-id: the array task id, 0-based")
    parser.add_argument("--sha256", metavar="HEX",
                        help="fold-id: refuse a fold file whose SHA-256 differs (it changed "
                             "after submission)")
    parser.epilog = ("plan and report take the train-fold options after '--': "
                     "--index, --faces, --weights, [--run-dir, --net, --epochs, --seed, --gpu]")


def run(args):
    if args.action == "fold-id":
        if args.task is None:
            raise UserError("fold-id needs --task I")
        if args.sha256:
            found = files.sha256(args.folds)
            if found != args.sha256:
                raise UserError("fold file %s changed after the array was submitted (SHA-256 "
                                "%s, submitted %s): task numbers may name other folds now; "
                                "submit again" % (args.folds, found, args.sha256))
        sys.stdout.write("%s\n" % fold_id(args.folds, args.task))
        return 0
    if not args.protocol:
        raise UserError("%s needs --protocol" % args.action)
    options = train_fold_options(args.protocol, args.train_fold or [])
    if args.action == "plan":
        count, pending, run_dir = plan(args.protocol, args.folds, options)
        sys.stdout.write("count=%d\npending=%s\nsha256=%s\nrun_dir=%s\n"
                         % (count, array_spec(pending), files.sha256(args.folds), run_dir))
        return 0
    return report(args.protocol, args.folds, options)


# ---------------------------------------------------------------- fold file

def read(path):
    """(protocol, classes, folds) of a JSON fold file. Only the JSON form
    names its protocol and its index, so only it is accepted."""
    if not str(path).lower().endswith(".json"):
        raise UserError("fold file %s: give the .json fold file of 'python3 -m microattention "
                        "folds --out FOLDS.json' (it names its protocol and index)" % path)
    return folds_module.read_folds(str(path))


def check(protocol, path, index):
    """The folds of `path` after checking they are `protocol`'s folds of `index`."""
    name = str(protocol).lower()
    if name not in folds_module.PROTOCOLS:
        raise UserError("protocol %s: expected one of %s (pre-training is one job: run "
                        "train-fold --protocol pretrain --fold pretrain with sbatch)"
                        % (protocol, ", ".join(folds_module.PROTOCOLS)))
    found, _, folds = read(path)
    if found != name:
        raise UserError("fold file %s holds the folds of protocol %s, not %s"
                        % (path, found, name))
    recorded = files.read_json(path).get("index_sha256")
    if recorded != files.sha256(index):
        # train-fold splits the index itself: the two must agree fold for fold.
        raise UserError("fold file %s was split from another index than --index %s; split "
                        "it again: python3 -m microattention folds --index %s --protocol %s "
                        "--out %s" % (path, index, index, name, path))
    return folds


def fold_id(path, task):
    """The id of the fold trained by array task `task` (0-based)."""
    _, _, folds = read(path)
    try:
        number = int(str(task).strip())
    except ValueError:
        raise UserError("array task %r is not a number" % (task,))
    if not 0 <= number < len(folds):
        raise UserError("array task %d: fold file %s holds %d folds, tasks 0-%d"
                        % (number, path, len(folds), len(folds) - 1))
    return folds[number]["fold"]




def array_spec(numbers):
    """sbatch --array spec of sorted task numbers: 0-3,7,9-10."""
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(start) if start == n else "%d-%d" % (start, n))
            start = None
    return ",".join(parts)


# ---------------------------------------------------------------- train-fold

def train_fold_options(protocol, argv):
    """The train-fold options after '--', parsed by train-fold's own parser
    (--protocol and --fold are the scripts' to give)."""
    argv = list(argv)
    for option in ("--protocol", "--fold"):
        if any(a == option or a.startswith(option + "=") for a in argv):
            raise UserError("give %s to the Slurm scripts, not among the train-fold options"
                            % option)
    parser = _Parser(prog="train-fold options", add_help=False)
    add_common_arguments(parser, fold=False)
    return parser.parse_args(["--protocol", protocol] + argv)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UserError("train-fold options: %s" % message)


def _net(options):
    return options.net or protocols.get(options.protocol).net


def fold_states(protocol, path, options):
    """[(task number, fold id, done.json or None)] of every fold of the file."""
    folds = check(protocol, path, options.index)
    net = _net(options)
    if not os.path.isfile(str(options.weights)):
        raise UserError("--weights %s: no such file" % options.weights)
    weights_sha = files.sha256(options.weights)
    states = []
    for number, fold in enumerate(folds):
        settings = fold_settings(protocol, net, fold["fold"], options.index, options.faces,
                                 options.weights, options.seed, options.epochs, weights_sha)
        fold_dir = layout.fold_dir_of(options.run_dir, protocol, net, fold["fold"])
        # finished() refuses a fold finished with other settings: better now than
        # in the middle of the array.
        states.append((number, fold["fold"], finished(fold_dir, settings)))
    return states


def plan(protocol, path, options):
    """(number of folds, task numbers still to train, run folder)."""
    states = fold_states(protocol, path, options)
    pending = [number for number, _, done in states if done is None]
    return len(states), pending, str(options.run_dir or layout.default_run_dir())


def report(protocol, path, options):
    """Pool the finished folds as the run command does; never train."""
    states = fold_states(protocol, path, options)
    missing = [(number, fold) for number, fold, done in states if done is None]
    if missing:
        net = _net(options)
        shown = ", ".join("%s (task %d)" % (fold, number) for number, fold in missing[:10])
        raise UserError(
            "%d of %d fold(s) are not finished: %s%s; read their task logs in %s and "
            "caffe.log in their folders under %s, then submit again (finished folds are kept)"
            % (len(missing), len(states), shown, ", ..." if len(missing) > 10 else "",
               pathlib.Path(options.run_dir or layout.default_run_dir()) / "slurm",
               layout.fold_dir_of(options.run_dir, protocol, net, missing[0][1]).parent))
    # Every fold is finished, so run_protocol only pools them.
    return runs.run_protocol(options.index, options.faces, protocol, options.weights,
                             net=options.net, run_dir=options.run_dir, jobs=1,
                             epochs=options.epochs, seed=options.seed, gpu=options.gpu)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m microattention.train.slurm",
                                     description=__doc__)
    add_arguments(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    # What follows '--' is train-fold's, parsed by its own parser.
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.train_fold = argv[split + 1:]
    try:
        return int(run(args) or 0)
    except UserError as exc:
        sys.stderr.write("microattention slurm %s: error: %s\n" % (args.action, exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
