"""The measurements behind Table 3: the values Caffe stores and learns per
net (pycaffe), `caffe time` per net (fastest of the repeats), ratios to the
ResNet-10 baseline, and the per-layer times grouped into attention layers
and backbone.
"""
import os
import tempfile
from collections import OrderedDict

from microattention import paper
from microattention.errors import UserError
from microattention.nets import prototxt
from microattention.nets.caffetime import caffe_time

# Paper, Table 3 (parameters in millions, seconds per training iteration on
# their GPU), and the nets' names as the paper's tables print them.
PAPER = {name: (row["params_million"], row["seconds_per_iteration"])
         for name, row in paper.TABLE3.items()}
LABELS = {name: paper.METHODS[name] for name in paper.TABLE3}
ORDER = ("resnet10", "complex_attention", "micro_attention")
ATTENTION, BACKBONE = "attention", "backbone"


def paper_time_ratio(name):
    """The paper's seconds per iteration of a net over the baseline's (Table 3)."""
    return PAPER[name][1] / PAPER[prototxt.BASELINE][1]


def layer_types(name, args):
    """OrderedDict layer -> type of the timing net as Caffe builds it, with
    the Split layers Caffe inserts where one blob feeds several layers."""
    net = prototxt.build(prototxt.render_timing(name, args.num_output, 1, size=args.size),
                         "TRAIN")
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


def measure(args, caffe=None):
    """One row per net in ORDER: values (pycaffe), the fastest `caffe time` of
    the repeats unless --no-time, ratios, and the layer groups with --layers."""
    caffe = caffe or args.caffe
    rows = []
    with tempfile.TemporaryDirectory(prefix="ma-summary-") as tmp:
        for name in [n for n in ORDER if n in args.nets]:
            dep = prototxt.render_deploy(name, num_output=args.num_output, batch=1, size=args.size)
            stored, learnable = prototxt.count_values(prototxt.build(dep, "TEST"), dep)
            rows.append({"net": name, "network": LABELS[name], "stored_values": stored,
                         "learnable_values": learnable,
                         "paper_params_M": PAPER[name][0], "paper_s_per_iter": PAPER[name][1],
                         "paper_time_ratio": paper_time_ratio(name)})
        if not args.no_time:
            for _ in range(args.repeats):
                for row in rows:
                    path = os.path.join(tmp, row["net"] + "_time.prototxt")
                    prototxt.write_prototxt(prototxt.render_timing(
                        row["net"], args.num_output, args.batch, size=args.size), path)
                    t = caffe_time(caffe, path, args.iterations, args.gpu)
                    if t["forward_backward_ms"] < row.get("forward_backward_ms", float("inf")):
                        row.update(t)
    add_ratios(rows)
    if args.layers:
        baseline = set(layer_types(prototxt.BASELINE, args))
        for row in rows:
            if not row.get("layers"):
                raise UserError("%s printed no per-layer times for %s" % (caffe, row["net"]))
            add_layer_groups(row, layer_types(row["net"], args), baseline)
    return rows


def add_ratios(rows):
    """values_ratio and time_ratio of each row: this net over the baseline."""
    base = next((r for r in rows if r["net"] == prototxt.BASELINE), None)
    for r in rows:
        r["values_ratio"] = r["stored_values"] / base["stored_values"] if base else None
        if base and "forward_backward_ms" in r:
            r["time_ratio"] = r["forward_backward_ms"] / base["forward_backward_ms"]
    return rows


def add_layer_groups(row, types, baseline_names):
    """A row's per-layer rows, group sums and attention share (--layers)."""
    row["layer_rows"], row["groups"], row["attention_types"] = group_layers(
        row["layers"], types, baseline_names)
    row["attention_ms"] = row["groups"][ATTENTION]["forward_backward_ms"]
    row["attention_share"] = row["groups"][ATTENTION]["share"]
    return row
