"""Table 3 written out: the markdown table with its note (and the --layers
tables), and the CSV files summary.csv and summary_layers.csv.
"""
import csv
import io
import os
import platform

from microattention.nets import prototxt
from microattention.nets.measure import PAPER

COLUMNS = ["network", "stored_values", "learnable_values", "values_ratio", "forward_ms",
           "backward_ms", "forward_backward_ms", "time_ratio", "paper_params_M", "paper_s_per_iter",
           "paper_time_ratio", "attention_ms", "attention_share"]
LAYER_COLUMNS = ["network", "layer", "type", "group", "forward_ms", "backward_ms",
                 "forward_backward_ms", "share"]


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
    base = next((r for r in rows if r["net"] == prototxt.BASELINE), None)
    if micro and base:
        text += ("\nMicro-attention / ResNet-10 time: %.3f (%.1f / %.1f ms); paper %s / %s s = "
                 "%.2f.\n" % (micro["time_ratio"], micro["forward_backward_ms"],
                              base["forward_backward_ms"], PAPER["micro_attention"][1],
                              PAPER[prototxt.BASELINE][1], micro["paper_time_ratio"]))
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
