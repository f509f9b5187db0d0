"""Table 3 of this reproduction: for each of the three nets, the values Caffe
stores (pycaffe, BatchNorm statistics included), the learnable values
(lr_mult > 0) and `caffe time` forward/backward milliseconds at the training
batch size, with ratios to the ResNet-10 baseline. Everything is measured in
this run; the paper's figures are printed beside them for comparison only.
The OpenBLAS kernel in use and numpy's sgemm GFLOP/s are printed beside the
timings, since they set Caffe's CPU speed.

--layers adds the per-layer forward/backward times that `caffe time` prints,
grouped per net into the attention layers (every layer the ResNet-10 baseline
does not have, Caffe's automatic Split layers included) and the backbone, a
breakdown of the attention layers by type, and one table row per layer.
"""
import os
import shutil
from collections import OrderedDict

from microattention import augment, blas, files
from microattention.errors import UserError
from microattention.nets import prototxt
from microattention.nets.measure import ORDER, measure
from microattention.nets.summary_tables import layers_csv, to_csv, to_markdown

OUTPUTS = ("summary.md", "summary.csv", "summary_layers.csv")


def add_arguments(parser):
    parser.add_argument("--nets", nargs="+", choices=prototxt.NETS, default=list(ORDER),
                        help="nets to measure (default: all three)")
    parser.add_argument("--batch", type=int, default=10,
                        help="batch size for caffe time (default 10, the paper's training batch)")
    parser.add_argument("--iterations", type=int, default=5,
                        help="caffe time iterations per net (default 5)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run caffe time this many times per net, interleaving the nets, "
                             "and keep each net's fastest run (default 1)")
    parser.add_argument("--num-output", type=int, default=5, help="classes (default 5)")
    parser.add_argument("--size", type=int, default=augment.CROP_SIZE,
                        help="input size (default %d)" % augment.CROP_SIZE)
    parser.add_argument("--caffe", default="caffe", help="caffe binary (default: caffe on PATH)")
    parser.add_argument("--no-time", action="store_true", help="only count values, skip caffe time")
    parser.add_argument("--gpu", type=int, default=None, metavar="ID",
                        help="run caffe time on this GPU (CUDA image; default: CPU)")
    parser.add_argument("--layers", action="store_true",
                        help="also show per-layer caffe times: attention layers vs backbone "
                             "per net, attention layers by type, every layer")
    parser.add_argument("--out", metavar="DIR",
                        help="also write DIR/summary.md and DIR/summary.csv "
                             "(and DIR/summary_layers.csv with --layers)")


def _check_args(args):
    """Every option a user can get wrong, named, before any work."""
    for option, value, low in (("--batch", args.batch, 1), ("--iterations", args.iterations, 1),
                               ("--repeats", args.repeats, 1), ("--num-output", args.num_output, 1),
                               ("--size", args.size, prototxt.MIN_SIZE)):
        if value < low:
            raise UserError("%s %d: must be at least %d" % (option, value, low))
    if args.gpu is not None and args.gpu < 0:
        raise UserError("--gpu %d: a GPU id is 0 or more" % args.gpu)
    # Sizes Caffe would abort the process on, or that exhaust the memory.
    for name in args.nets:
        prototxt.check_sizes(name, args.num_output, 1 if args.no_time else args.batch,
                             args.size, options={"num_output": "--num-output",
                                                 "batch": "--batch", "size": "--size"},
                             available=float("inf") if args.gpu is not None else None)
    if args.no_time:
        if args.layers:
            raise UserError("--layers needs caffe time; drop --no-time")
        return None
    caffe = shutil.which(args.caffe)
    if caffe is None:
        raise UserError("--caffe %s: no such executable (use --caffe PATH, or --no-time)"
                        % args.caffe)
    return caffe


def output_paths(args):
    """The files --out asks for (none without --out)."""
    if not args.out:
        return []
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UserError("--out %s is a file; give a folder" % args.out)
    names = OUTPUTS if args.layers else OUTPUTS[:2]
    return [os.path.join(args.out, n) for n in names]


def run(args):
    caffe = _check_args(args)
    outputs = output_paths(args)
    made = files.new_dirs(args.out) if args.out else []
    try:
        files.check_outputs(outputs, option_names={p: "--out" for p in outputs})
        rows = measure(args, caffe)
        if args.no_time:
            blas_line = blas.describe()
        else:
            blas_line = blas.describe(blas.sgemm_gflops())
        md = to_markdown(rows, args, blas_line)
        contents = OrderedDict(zip(outputs, (md, to_csv(rows), layers_csv(rows)
                                             if args.layers else None)))
        if outputs:
            files.write_together(contents)
    except KeyboardInterrupt:
        files.remove_empty(made)
        raise UserError("interrupted; nothing was written")
    except BaseException:
        files.remove_empty(made)      # folders made for outputs never written
        raise
    print(md, end="")
    if outputs:
        print("wrote %s" % ", ".join(outputs))
    return 0
