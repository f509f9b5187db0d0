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
import csv
import io
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections import OrderedDict

from microattention import augment, blas, files, paper
from microattention.nets import prototxt as nets
from microattention.errors import UserError

# Paper, Table 3 (parameters in millions, seconds per training iteration on
# their GPU), and the nets' names as the paper's tables print them.
PAPER = {name: (row["params_million"], row["seconds_per_iteration"])
         for name, row in paper.TABLE3.items()}
LABELS = {name: paper.METHODS[name] for name in paper.TABLE3}
ORDER = ("resnet10", "complex_attention", "micro_attention")
COLUMNS = ["network", "stored_values", "learnable_values", "values_ratio", "forward_ms",
           "backward_ms", "forward_backward_ms", "time_ratio", "paper_params_M", "paper_s_per_iter",
           "paper_time_ratio", "attention_ms", "attention_share"]
LAYER_COLUMNS = ["network", "layer", "type", "group", "forward_ms", "backward_ms",
                 "forward_backward_ms", "share"]
ATTENTION, BACKBONE = "attention", "backbone"
OUTPUTS = ("summary.md", "summary.csv", "summary_layers.csv")

_TIME_RE = {
    "forward_ms": re.compile(r"Average Forward pass:\s*([0-9.eE+-]+)\s*ms"),
    "backward_ms": re.compile(r"Average Backward pass:\s*([0-9.eE+-]+)\s*ms"),
    "forward_backward_ms": re.compile(r"Average Forward-Backward:\s*([0-9.eE+-]+)\s*ms"),
}
# caffe.cpp prints, after "Average time per layer:", per layer and iteration:
#   "<name right-aligned in 10>\tforward: <ms> ms." and the same with backward,
# behind glog's prefix "I1128 09:00:00.123456 12345 caffe.cpp:404] ".
_LAYER_RE = re.compile(r"^(?:[IWEF]\d{4} [\d:.]+\s+\d+ \S+\] )?\s*(\S.*?)\t(forward|backward): "
                       r"([0-9.eE+-]+) ms\.\s*$")


def paper_time_ratio(name):
    """The paper's seconds per iteration of a net over the baseline's (Table 3)."""
    return PAPER[name][1] / PAPER[nets.BASELINE][1]


def parse_layer_times(text):
    """OrderedDict layer -> {'forward_ms', 'backward_ms'} from `caffe time` output."""
    layers = OrderedDict()
    for line in text.splitlines():
        m = _LAYER_RE.match(line)
        if m:
            name, kind, ms = m.groups()
            layers.setdefault(name, {})[kind + "_ms"] = float(ms)
    return layers


def parse_caffe_time(text, source="caffe time"):
    """Averages and per-layer times of one `caffe time` output."""
    out = {}
    for key, rx in _TIME_RE.items():
        m = rx.search(text)
        if not m:
            raise UserError("could not find %r in the output of %s" % (key, source))
        out[key] = float(m.group(1))
    out["layers"] = parse_layer_times(text)
    return out


def layer_types(name, args):
    """OrderedDict layer -> type of the timing net as Caffe builds it, with
    the Split layers Caffe inserts where one blob feeds several layers."""
    net = nets.build(nets.render_timing(name, args.num_output, 1, size=args.size), "TRAIN")
    return OrderedDict((n, l.type) for n, l in zip(net._layer_names, net.layers))


def group_layers(layers, types, baseline_names):
    """Per-layer rows (layer, type, group, ms) and the sums per group and per
    attention layer type. A layer is 'attention' when the baseline net has no
    layer of that name."""
    rows, groups, by_type = [], OrderedDict(), OrderedDict()
    for g in (ATTENTION, BACKBONE):
        groups[g] = {"layers": 0, "forward_ms": 0.0, "backward_ms": 0.0}
    for name, t in layers.items():
        fwd, bwd = t.get("forward_ms", 0.0), t.get("backward_ms", 0.0)
        group = BACKBONE if name in baseline_names else ATTENTION
        ltype = types.get(name, "?")
        rows.append({"layer": name, "type": ltype, "group": group, "forward_ms": fwd,
                     "backward_ms": bwd, "forward_backward_ms": fwd + bwd})
        for acc in [groups[group]] + ([by_type.setdefault(ltype, {"layers": 0, "forward_ms": 0.0,
                                                                   "backward_ms": 0.0})]
                                      if group == ATTENTION else []):
            acc["layers"] += 1
            acc["forward_ms"] += fwd
            acc["backward_ms"] += bwd
    total = sum(r["forward_backward_ms"] for r in rows)
    for acc in list(groups.values()) + list(by_type.values()):
        acc["forward_backward_ms"] = acc["forward_ms"] + acc["backward_ms"]
        acc["share"] = acc["forward_backward_ms"] / total if total else None
    for r in rows:
        r["share"] = r["forward_backward_ms"] / total if total else None
    return rows, groups, by_type


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
    fatal = _fatal_lines(r.stdout)
    if r.returncode != 0 or fatal:
        # A fatal glog line is a failure even under exit status 0 (a wrapper
        # script that does not pass caffe's status on): the averages printed
        # before it may stand on a net that never finished.
        raise UserError("caffe time failed on %s (exit %d)%s:\n%s"
                        % (prototxt, r.returncode, ": " + "; ".join(fatal) if fatal else "",
                           r.stdout[-2000:]))
    return parse_caffe_time(r.stdout, "%s time on %s" % (caffe_bin, prototxt))


# glog's fatal lines ("F1204 14:12:21.203133 21 common.cpp:66] Cannot use GPU
# ...") and the stack trace it prints after one.
_FATAL_RE = re.compile(r"^F\d{4}\b[^\]]*\] (.*)$|^\*\*\* (Check failure stack trace|"
                       r"Aborted at)")


def _fatal_lines(text):
    return [m.group(1) or m.group(2) for m in map(_FATAL_RE.match, text.splitlines()) if m]


def _check_args(args):
    """Every option a user can get wrong, named, before any work."""
    for option, value, low in (("--batch", args.batch, 1), ("--iterations", args.iterations, 1),
                               ("--repeats", args.repeats, 1), ("--num-output", args.num_output, 1),
                               ("--size", args.size, nets.MIN_SIZE)):
        if value < low:
            raise UserError("%s %d: must be at least %d" % (option, value, low))
    if args.gpu is not None and args.gpu < 0:
        raise UserError("--gpu %d: a GPU id is 0 or more" % args.gpu)
    # Sizes Caffe would abort the process on, or that exhaust the memory.
    for name in args.nets:
        nets.check_sizes(name, args.num_output, 1 if args.no_time else args.batch, args.size,
                         options={"num_output": "--num-output", "batch": "--batch",
                                  "size": "--size"},
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
    if not args.out:
        return []
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UserError("--out %s is a file; give a folder" % args.out)
    names = OUTPUTS if args.layers else OUTPUTS[:2]
    return [os.path.join(args.out, n) for n in names]


def measure(args, caffe=None):
    caffe = caffe or args.caffe
    rows = []
    with tempfile.TemporaryDirectory(prefix="ma-summary-") as tmp:
        for name in [n for n in ORDER if n in args.nets]:
            dep = nets.render_deploy(name, num_output=args.num_output, batch=1, size=args.size)
            stored, learnable = nets.count_values(nets.build(dep, "TEST"), dep)
            rows.append({"net": name, "network": LABELS[name], "stored_values": stored,
                         "learnable_values": learnable,
                         "paper_params_M": PAPER[name][0], "paper_s_per_iter": PAPER[name][1],
                         "paper_time_ratio": paper_time_ratio(name)})
        if not args.no_time:
            for _ in range(args.repeats):
                for row in rows:
                    path = os.path.join(tmp, row["net"] + "_time.prototxt")
                    nets.write_prototxt(nets.render_timing(row["net"], args.num_output,
                                                           args.batch, size=args.size), path)
                    t = caffe_time(caffe, path, args.iterations, args.gpu)
                    if t["forward_backward_ms"] < row.get("forward_backward_ms", float("inf")):
                        row.update(t)
    add_ratios(rows)
    if args.layers:
        baseline = set(layer_types(nets.BASELINE, args))
        for row in rows:
            if not row.get("layers"):
                raise UserError("%s printed no per-layer times for %s" % (caffe, row["net"]))
            add_layer_groups(row, layer_types(row["net"], args), baseline)
    return rows


def add_ratios(rows):
    """values_ratio and time_ratio of each row: this net over the baseline."""
    base = next((r for r in rows if r["net"] == nets.BASELINE), None)
    for r in rows:
        r["values_ratio"] = r["stored_values"] / base["stored_values"] if base else None
        if base and "forward_backward_ms" in r:
            r["time_ratio"] = r["forward_backward_ms"] / base["forward_backward_ms"]
    return rows


def add_layer_groups(row, types, baseline_names):
    row["layer_rows"], row["groups"], row["attention_types"] = group_layers(
        row["layers"], types, baseline_names)
    row["attention_ms"] = row["groups"][ATTENTION]["forward_backward_ms"]
    row["attention_share"] = row["groups"][ATTENTION]["share"]
    return row


def _fmt(v, spec):
    return "" if v is None else format(v, spec)


def _pct(v):
    return "" if v is None else "%.1f %%" % (100.0 * v)


def to_markdown(rows, args, blas_line=""):
    lines = ["| network | stored values | learnable values | values / baseline | forward ms "
             "| backward ms | fwd+bwd ms | time / baseline | paper params (M) | paper s/iter "
             "| paper time / baseline |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["network"], format(r["stored_values"], ","), format(r["learnable_values"], ","),
            _fmt(r.get("values_ratio"), ".3f"), _fmt(r.get("forward_ms"), ".1f"),
            _fmt(r.get("backward_ms"), ".1f"), _fmt(r.get("forward_backward_ms"), ".1f"),
            _fmt(r.get("time_ratio"), ".3f"), r["paper_params_M"], r["paper_s_per_iter"],
            _fmt(r["paper_time_ratio"], ".3f")))
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
    text = "\n".join(lines) + "\n" + note + "\n"
    micro = next((r for r in rows if r["net"] == "micro_attention" and r.get("time_ratio")), None)
    base = next((r for r in rows if r["net"] == nets.BASELINE), None)
    if micro and base:
        text += ("\nMicro-attention / ResNet-10 time: %.3f (%.1f / %.1f ms); paper %s / %s s = "
                 "%.2f.\n" % (micro["time_ratio"], micro["forward_backward_ms"],
                              base["forward_backward_ms"], PAPER["micro_attention"][1],
                              PAPER[nets.BASELINE][1], micro["paper_time_ratio"]))
    if blas_line:
        text += "\nBLAS: %s.\n" % blas_line
    if args.layers:
        text += layers_markdown(rows)
    return text


def layers_markdown(rows):
    """The --layers tables: groups per net, attention layers by type, every layer."""
    out = ["", "### Per-layer times (`caffe time`, ms per iteration; share of the net's "
               "summed layer times)", "",
           "Attention layers: the layers the ResNet-10 baseline does not have, Caffe's "
           "automatic Split layers included.", "",
           "| network | group | layers | forward ms | backward ms | fwd+bwd ms | share |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        for g, acc in r["groups"].items():
            if acc["layers"]:
                out.append("| %s | %s | %d | %.2f | %.2f | %.2f | %s |" % (
                    r["network"], g, acc["layers"], acc["forward_ms"], acc["backward_ms"],
                    acc["forward_backward_ms"], _pct(acc["share"])))
    if any(r["attention_types"] for r in rows):
        out += ["", "Attention layers by type:", "",
                "| network | type | layers | forward ms | backward ms | fwd+bwd ms | share |",
                "|---|---|---:|---:|---:|---:|---:|"]
        for r in rows:
            for t, acc in sorted(r["attention_types"].items(),
                                 key=lambda kv: -kv[1]["forward_backward_ms"]):
                out.append("| %s | %s | %d | %.2f | %.2f | %.2f | %s |" % (
                    r["network"], t, acc["layers"], acc["forward_ms"], acc["backward_ms"],
                    acc["forward_backward_ms"], _pct(acc["share"])))
    for r in rows:
        out += ["", "#### %s" % r["network"], "",
                "| layer | type | group | forward ms | backward ms | fwd+bwd ms | share |",
                "|---|---|---|---:|---:|---:|---:|"]
        for l in r["layer_rows"]:
            out.append("| %s | %s | %s | %.3f | %.3f | %.3f | %s |" % (
                l["layer"], l["type"], l["group"], l["forward_ms"], l["backward_ms"],
                l["forward_backward_ms"], _pct(l["share"])))
    return "\n".join(out) + "\n"


def _csv(fieldnames, dict_rows):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fieldnames, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in dict_rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fieldnames})
    return buf.getvalue()


def to_csv(rows):
    return _csv(COLUMNS, rows)


def layers_csv(rows):
    return _csv(LAYER_COLUMNS, [dict(l, network=r["net"]) for r in rows for l in r["layer_rows"]])


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
