"""Table 3 of this reproduction: for each of the three nets, the values Caffe
stores (pycaffe, BatchNorm statistics included), the learnable values
(lr_mult > 0) and `caffe time` forward/backward milliseconds at the training
batch size, with ratios to the ResNet-10 baseline. Everything is measured in
this run; the paper's figures are printed beside them for comparison only.
"""
import csv
import io
import os
import platform
import re
import shutil
import subprocess
import tempfile

from microattention import files, nets
from microattention.errors import UserError

# Paper, Table 3 (parameters in millions, seconds per training iteration on their GPU).
PAPER = {"resnet10": (4.9, 0.95), "complex_attention": (11.2, 1.5), "micro_attention": (5.9, 1.1)}
LABELS = {"resnet10": "ResNet-10 [17]",
          "complex_attention": "ResNet-10 + complex attention [29] (reconstruction)",
          "micro_attention": "ResNet-10 + micro-attention"}
ORDER = ("resnet10", "complex_attention", "micro_attention")
COLUMNS = ["network", "stored_values", "learnable_values", "values_ratio", "forward_ms",
           "backward_ms", "forward_backward_ms", "time_ratio", "paper_params_M", "paper_s_per_iter"]

_TIME_RE = {
    "forward_ms": re.compile(r"Average Forward pass:\s*([0-9.eE+-]+)\s*ms"),
    "backward_ms": re.compile(r"Average Backward pass:\s*([0-9.eE+-]+)\s*ms"),
    "forward_backward_ms": re.compile(r"Average Forward-Backward:\s*([0-9.eE+-]+)\s*ms"),
}


def add_arguments(parser):
    parser.add_argument("--nets", nargs="+", choices=nets.NETS, default=list(ORDER),
                        help="nets to measure (default: all three)")
    parser.add_argument("--batch", type=int, default=10,
                        help="batch size for caffe time (default 10, the paper's training batch)")
    parser.add_argument("--iterations", type=int, default=5,
                        help="caffe time iterations per net (default 5)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run caffe time this many times per net, interleaving the nets, "
                             "and keep each net's fastest run (default 1)")
    parser.add_argument("--num-output", type=int, default=5, help="classes (default 5)")
    parser.add_argument("--size", type=int, default=224, help="input size (default 224)")
    parser.add_argument("--caffe", default="caffe", help="caffe binary (default: caffe on PATH)")
    parser.add_argument("--no-time", action="store_true", help="only count values, skip caffe time")
    parser.add_argument("--gpu", type=int, default=None, metavar="ID",
                        help="run caffe time on this GPU (CUDA image; default: CPU)")
    parser.add_argument("--out", metavar="DIR",
                        help="also write DIR/summary.md and DIR/summary.csv")


def caffe_time(caffe_bin, prototxt, iterations, gpu=None):
    """Run `caffe time` (TRAIN phase, forward + backward) and parse its averages."""
    env = dict(os.environ, GLOG_minloglevel="0", GLOG_logtostderr="1")
    try:
        cmd = [caffe_bin, "time", "-model", prototxt, "-iterations", str(iterations)]
        if gpu is not None:
            cmd += ["-gpu", str(gpu)]
        r = subprocess.run(cmd,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, env=env)
    except OSError as exc:
        raise UserError("cannot run %s: %s" % (caffe_bin, exc))
    if r.returncode != 0:
        raise UserError("caffe time failed on %s:\n%s" % (prototxt, r.stdout[-2000:]))
    out = {}
    for key, rx in _TIME_RE.items():
        m = rx.search(r.stdout)
        if not m:
            raise UserError("could not find %r in caffe time output" % key)
        out[key] = float(m.group(1))
    return out


def measure(args):
    if not args.no_time and shutil.which(args.caffe) is None and not os.path.exists(args.caffe):
        raise UserError("caffe binary %r not found (use --caffe or --no-time)" % args.caffe)
    if args.batch < 1 or args.iterations < 1 or args.repeats < 1:
        raise UserError("--batch, --iterations and --repeats must be positive")
    rows = []
    with tempfile.TemporaryDirectory(prefix="ma-summary-") as tmp:
        for name in [n for n in ORDER if n in args.nets]:
            dep = nets.render_deploy(name, num_output=args.num_output, batch=1, size=args.size)
            stored, learnable = nets.count_values(nets.build(dep, "TEST"), dep)
            rows.append({"net": name, "network": LABELS[name], "stored_values": stored,
                         "learnable_values": learnable,
                         "paper_params_M": PAPER[name][0], "paper_s_per_iter": PAPER[name][1]})
        if not args.no_time:
            for _ in range(args.repeats):
                for row in rows:
                    path = os.path.join(tmp, row["net"] + "_time.prototxt")
                    nets.write_prototxt(nets.render_timing(row["net"], args.num_output,
                                                           args.batch, size=args.size), path)
                    t = caffe_time(args.caffe, path, args.iterations, args.gpu)
                    if t["forward_backward_ms"] < row.get("forward_backward_ms", float("inf")):
                        row.update(t)
    base = next((r for r in rows if r["net"] == nets.BASELINE), None)
    for r in rows:
        r["values_ratio"] = r["stored_values"] / base["stored_values"] if base else None
        if base and "forward_backward_ms" in r:
            r["time_ratio"] = r["forward_backward_ms"] / base["forward_backward_ms"]
    return rows


def _fmt(v, spec):
    return "" if v is None else format(v, spec)


def to_markdown(rows, args):
    lines = ["| network | stored values | learnable values | values / baseline | forward ms "
             "| backward ms | fwd+bwd ms | time / baseline | paper params (M) | paper s/iter |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["network"], format(r["stored_values"], ","), format(r["learnable_values"], ","),
            _fmt(r.get("values_ratio"), ".3f"), _fmt(r.get("forward_ms"), ".1f"),
            _fmt(r.get("backward_ms"), ".1f"), _fmt(r.get("forward_backward_ms"), ".1f"),
            _fmt(r.get("time_ratio"), ".3f"), r["paper_params_M"], r["paper_s_per_iter"]))
    note = ("\nValues: every blob Caffe stores for %d classes, 1x%dx%d gray input (pycaffe). "
            "Times: `caffe time`, TRAIN phase, batch %d, %d iterations (fastest of %d runs), %s, "
            "this machine; the paper's times are per training iteration on their GPU. "
            "Complex attention is this project's reconstruction of [29]."
            % (args.num_output, args.size, args.size, args.batch, args.iterations,
               args.repeats,
               "CPU (%s, %d cores)" % (platform.machine(), os.cpu_count() or 0)
               if args.gpu is None else "GPU %d" % args.gpu))
    if args.no_time:
        note = note.split(" Times:")[0] + " Times: not measured (--no-time)."
    return "\n".join(lines) + "\n" + note + "\n"


def to_csv(rows):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in COLUMNS})
    return buf.getvalue()


def run(args):
    rows = measure(args)
    md = to_markdown(rows, args)
    print(md, end="")
    if args.out:
        files.atomic_write(os.path.join(args.out, "summary.md"), md)
        files.atomic_write(os.path.join(args.out, "summary.csv"), to_csv(rows))
        print("wrote %s and %s" % (os.path.join(args.out, "summary.md"),
                                   os.path.join(args.out, "summary.csv")))
    return 0
