"""Run the pipeline on the embedded demo data.

The full demo (faces -> LMDB -> fine-tuning on generated data -> report) comes
with the later pipeline stages. Until then the demo runs the largest real part
that exists: the three networks of Table 3 built in Caffe, with their stored
and learnable value counts and `caffe time` forward/backward timings, written to
OUT/summary.md and OUT/summary.csv.
"""
import argparse

from microattention.cli import CommandError


def add_arguments(parser):
    parser.add_argument("--out", default="demo",
                        help="output folder, relative to the working directory "
                             "(/workspace in the image); default: %(default)s")
    parser.add_argument("--gpu", type=int, default=None, metavar="ID",
                        help="time the nets on this GPU (CUDA image only)")


def run(args):
    from microattention import summary
    parser = argparse.ArgumentParser()
    summary.add_arguments(parser)
    forwarded = ["--out", args.out]
    if args.gpu is not None:
        if not any(a.dest == "gpu" for a in parser._actions):
            raise CommandError("--gpu: the summary command has no GPU option in this release")
        forwarded += ["--gpu", str(args.gpu)]
    return summary.run(parser.parse_args(forwarded))
