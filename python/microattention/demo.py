"""Run the pipeline on the embedded demo data.

The full demo (faces -> LMDB -> fine-tuning on generated data -> report) comes
with the later pipeline stages. Until then the demo runs the largest real part
that exists: the three networks of Table 3 built in Caffe, with their stored
and learnable value counts and `caffe time` forward/backward timings, written to
OUT/summary.md and OUT/summary.csv.
"""
import argparse


def add_arguments(parser):
    parser.add_argument("--out", default="demo",
                        help="output folder, relative to the working directory "
                             "(/workspace in the image); default: %(default)s")
    parser.add_argument("--gpu", type=int, default=None, metavar="ID",
                        help="time the nets on this GPU (CUDA image only)")


def run(args):
    from microattention import files, summary
    # Say at once, not after minutes of timing, when the results cannot be written.
    files.output_dir(args.out)
    parser = argparse.ArgumentParser()
    summary.add_arguments(parser)
    forwarded = ["--out", args.out]
    if args.gpu is not None:
        forwarded += ["--gpu", str(args.gpu)]
    return summary.run(parser.parse_args(forwarded))
