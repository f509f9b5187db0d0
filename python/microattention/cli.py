"""The single command-line entry point: ``python3 -m microattention <command>``.

Each command lives in its own module, which provides ``add_arguments(parser)``
and ``run(args) -> int``. Modules are imported only when their command is used,
so ``--help`` stays fast and a broken optional dependency of one stage does not
take the others down.
"""
import argparse
import importlib
import sys

from microattention import __version__, blas
from microattention.errors import UserError

# name -> (module, one-line help).
COMMANDS = {
    "index": ("microattention.datasets.command",
              "list the samples of a dataset (apex frames, classes) as a CSV index"),
    "faces": ("microattention.faces.command",
              "locate faces (dlib + AAM) and crop them to 240x240 gray; train-aam, evaluate"),
    "lmdb": ("microattention.lmdbs.command", "balance, augment and write training/test LMDBs"),
    "folds": ("microattention.folds.command", "split an index into the folds of HDE, CDE or LOSO"),
    "train-fold": ("microattention.train.command", "train and test one fold with Caffe"),
    "run": ("microattention.train.run_command", "run every fold of a protocol"),
    "report": ("microattention.report.command", "metrics, confusion matrices and the paper's tables"),
    "summary": ("microattention.nets.summary_command",
                "parameter counts and caffe timings of the three nets (Table 3)"),
    "weights": ("microattention.nets.weights_command",
                "ImageNet-to-gray conversion and weight transfer between nets"),
    "visualize": ("microattention.attention.command", "attention-map overlays (Figure 4)"),
    "export": ("microattention.deploy.export_command",
               "a trained fold as a self-contained model folder (net, weights, classes, "
               "preprocessing, provenance)"),
    "predict": ("microattention.deploy.predict_command",
                "a model on your own video or frames: face, apex, class, attention overlay"),
    "demo": ("microattention.demo.command",
             "the whole pipeline on generated faces: data, faces, pre-training, LOSO, "
             "report, Figure 4 (synthetic; not a benchmark)"),
    "demo-data": ("microattention.demo.data.command",
                  "generate the demo's CASME II and CK+ trees from real photographs "
                  "(--rehearsal: all seven databases' layouts)"),
}


def _load(name):
    return importlib.import_module(COMMANDS[name][0])


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python3 -m microattention",
        description="Micro-Attention for Micro-Expression Recognition (Wang et al. 2020), "
                    "reproduced in Caffe.",
        epilog="Run 'python3 -m microattention <command> --help' for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        build_parser().print_help()
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        print(__version__)
        return 0
    name = argv[0]
    if name not in COMMANDS:
        sys.stderr.write(
            "microattention: unknown command %r; known commands: %s\n"
            % (name, ", ".join(COMMANDS)))
        return 2
    blas.setup()    # OpenBLAS's kernel, before a command module loads numpy or Caffe
    module = _load(name)
    parser = argparse.ArgumentParser(prog="python3 -m microattention " + name,
                                     description=module.__doc__)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except UserError as exc:
        sys.stderr.write("microattention %s: error: %s\n" % (name, exc))
        return 1
