#!/usr/bin/env python3
"""Write the generated tables of docs/paper-setup.md.

    python3 tools/make_docs.py            # rewrite the generated blocks in place
    python3 tools/make_docs.py --check    # exit 1 if the committed doc differs

The protocol settings live in microattention.protocols (PROTOCOLS, CHOICES) and
the paper's reported figures in microattention.paper; the doc quotes them
through the blocks written here, never by retyping. A block is the text between

    <!-- generated: NAME (tools/make_docs.py) -->
    <!-- end generated: NAME -->

and everything outside the blocks is hand-written prose that this script
leaves alone. Plain Python: no Caffe needed.
"""
import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.join(ROOT, "python") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "python"))

from microattention import augment, files, paper, protocols  # noqa: E402

DOC = os.path.join(ROOT, "docs", "paper-setup.md")
CHOICE_MARK = "\u2020"  # dagger: the value is a project choice (see the list below the table)


# ----------------------------------------------------------------- formatting

def number(x):
    """Rates as the paper prints them (1e-4, 5e-6), other numbers plainly (0.9, 20)."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return "%d" % x
    if x != 0 and abs(x) < 0.1:
        mantissa, exponent = ("%.0e" % x).split("e")
        short = "%se%d" % (mantissa, int(exponent))
        return short if float(short) == x else repr(x)
    return "%g" % x


def augmentation(aug):
    if aug == protocols.NO_AUGMENTATION:
        return "none"
    parts = []
    if aug.colour_shift:
        parts.append("colour shift \u2264 %d" % aug.colour_shift)
    if aug.rotation:
        parts.append("rotation \u2264 %s\u00b0" % number(aug.rotation))
    if aug.smoothing:
        parts.append("smoothing window \u2264 %d" % aug.smoothing)
    text = ", ".join(parts)
    if parts and aug.p:
        text += " (each with p = %s)" % number(aug.p)
    if aug.corner_crops:
        text += ("; " if text else "") + "4 corner crops %d of the %d face, resized to %d" % (
            augment.CROP_SIZE, augment.FACE_SIZE, augment.FACE_SIZE)
    return text


def table(header, rows, align=None):
    align = align or ["---"] * len(header)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def column(values):
    """Three decimals, as printed in the paper."""
    return ["%.3f" % v for v in values]


# ----------------------------------------------------------------- blocks

def block_protocols():
    fields = [
        ("section", "paper section", lambda p: p.section),
        ("net", "net trained", lambda p: "`%s`" % p.net),
        ("batch", "batch (train)", lambda p: number(p.batch)),
        ("test_batch", "batch (test)", lambda p: number(p.test_batch)),
        ("solver", "solver", lambda p: p.solver),
        ("base_lr", "base lr", lambda p: number(p.base_lr)),
        ("momentum", "momentum", lambda p: number(p.momentum)),
        ("weight_decay", "weight decay", lambda p: number(p.weight_decay)),
        ("step_epochs", "lr step (epochs)", lambda p: number(p.step_epochs)),
        ("gamma", "lr factor per step", lambda p: number(p.gamma)),
        ("total_epochs", "epochs in all", lambda p: number(p.total_epochs)),
        ("augmentation", "augmentation", lambda p: augmentation(p.augmentation)),
        ("resample", "classes resampled to the largest", lambda p: number(p.resample)),
    ]
    names = list(protocols.PROTOCOLS)
    header = ["setting"] + ["`%s`" % n for n in names]
    rows = []
    for field, label, render in fields:
        row = [label]
        for n in names:
            cell = render(protocols.PROTOCOLS[n])
            if (n, field) in protocols.CHOICES:
                cell += " " + CHOICE_MARK
            row.append(cell)
        rows.append(row)
    out = table(header, rows)
    out += ("\n%s = project choice: the paper does not give this value (or prints it "
            "garbled). Why each was chosen:\n\n" % CHOICE_MARK)
    for (name, field), why in protocols.CHOICES.items():
        out += "- `%s` %s: %s.\n" % (name, field, why)
    return out


def block_table2():
    keys = list(paper.TABLE2)
    cols = [("war", "samm"), ("war", "casme2"), ("uar", "samm"), ("uar", "casme2")]
    columns = [column([paper.TABLE2[k][ds][m] for k in keys]) for m, ds in cols]
    header = ["method"] + ["%s, test %s" % (m.upper(), paper.DATASET_LABELS[ds]) for m, ds in cols]
    rows = [[paper.METHODS[k]] + [c[i] for c in columns] for i, k in enumerate(keys)]
    return table(header, rows, ["---"] + ["---:"] * len(cols))


def block_table3():
    keys = list(paper.TABLE3)
    rows = [[paper.METHODS[k], "`%s`" % k,
             number(paper.TABLE3[k]["params_million"]),
             number(paper.TABLE3[k]["seconds_per_iteration"])] for k in keys]
    return table(["method", "our net", "parameters (million)", "time per iteration (s)"], rows,
                 ["---", "---", "---:", "---:"])


def block_table4():
    keys = list(paper.TABLE4)
    acc = column([paper.TABLE4[k]["accuracy"] for k in keys])
    f1 = column([paper.TABLE4[k]["f1"] for k in keys])
    rows = [[paper.METHODS[k], acc[i], f1[i]] for i, k in enumerate(keys)]
    return table(["method", "accuracy", "F1"], rows, ["---", "---:", "---:"])


def block_table5():
    header = ["true \\ predicted"] + list(paper.CLASSES)
    rows = [[paper.CLASSES[i]] + ["%.2f" % v for v in row] for i, row in enumerate(paper.TABLE5)]
    return table(header, rows, ["---"] + ["---:"] * len(paper.CLASSES))


def block_table6():
    keys = list(paper.TABLE6)
    sets = ("samm", "casme2", "smic")
    header = ["method"]
    columns = []
    for ds in sets:
        for m, label in (("accuracy", "accuracy"), ("f1", "F1")):
            header.append("%s %s" % (paper.DATASET_LABELS[ds], label))
            columns.append(column([paper.TABLE6[k][ds][m] for k in keys]))
    rows = [[paper.METHODS[k]] + [c[i] for c in columns] for i, k in enumerate(keys)]
    return table(header, rows, ["---"] + ["---:"] * len(columns))


def cde_counts():
    """Table 5's percentages turned back into sample counts with Table 1's CDE
    class sizes (CASME II + SAMM, classes I..V)."""
    sizes = [paper.TABLE1["casme2"][c] + paper.TABLE1["samm"][c] for c in paper.CLASSES]
    counts = [[int(round(p * n / 100.0)) for p in row] for row, n in zip(paper.TABLE5, sizes)]
    return sizes, counts


def rounding_error():
    sizes, counts = cde_counts()
    return max(abs(p * n / 100.0 - c) for row, n, crow in zip(paper.TABLE5, sizes, counts)
               for p, c in zip(row, crow))


def metrics_of(counts):
    """WAR, UAR and both F1 definitions of one (pooled) confusion matrix."""
    k = len(counts)
    tp = [counts[i][i] for i in range(k)]
    true = [sum(row) for row in counts]
    pred = [sum(counts[i][j] for i in range(k)) for j in range(k)]
    recall = [t / n for t, n in zip(tp, true)]
    precision = [t / p if p else 0.0 for t, p in zip(tp, pred)]
    macro_p, macro_r = sum(precision) / k, sum(recall) / k
    return {
        "war": sum(tp) / sum(true),
        "uar": macro_r,
        "f1_megc2018": 2 * macro_p * macro_r / (macro_p + macro_r),
        "uf1_megc2019": sum(2 * t / (n + p) for t, n, p in zip(tp, true, pred)) / k,
    }


def block_table5_counts():
    sizes, counts = cde_counts()
    header = ["true \\ predicted"] + list(paper.CLASSES) + ["samples (Table 1)"]
    rows = [[paper.CLASSES[i]] + ["%d" % v for v in row] + ["%d" % sizes[i]]
            for i, row in enumerate(counts)]
    out = table(header, rows, ["---"] + ["---:"] * (len(paper.CLASSES) + 1))
    out += ("\nEach count is a printed percentage times the class size; the largest distance "
            "of such a product to its whole number is %.3f of a sample.\n\n" % rounding_error())
    m = metrics_of(counts)
    t4 = paper.TABLE4["micro_attention"]
    out += table(["from these counts", "value", "Table 4 (micro-attention)"], [
        ["WAR (accuracy)", "%.4f" % m["war"], "%.3f" % t4["accuracy"]],
        ["UAR", "%.4f" % m["uar"], "not reported"],
        ["F1, MEGC 2018 (harmonic mean of macro P and macro R)", "%.4f" % m["f1_megc2018"],
         "%.3f" % t4["f1"]],
        ["UF1, MEGC 2019 (mean of per-class 2TP/(2TP+FP+FN))", "%.4f" % m["uf1_megc2019"],
         "%.3f" % t4["f1"]],
    ], ["---", "---:", "---:"])
    return out


PRETRAIN_SELECTION = {
    "ckplus": ("CK+", "the last 3 frames of each sequence labelled with one of the 5 emotions"),
    "oulu": ("Oulu-CASIA NIR&VIS", "VIS camera, normal indoor illumination, last 3 frames of "
                                   "each sequence"),
    "jaffe": ("JAFFE", "the images of the 5 emotions"),
    "mug": ("MUG", "6 to 10 frames around the apex of each clip"),
}


def block_pretrain_sets():
    rows = [[PRETRAIN_SELECTION[k][0], PRETRAIN_SELECTION[k][1], "%d" % n]
            for k, n in paper.PRETRAIN_IMAGES.items()]
    rows.append(["in all", "", "%d" % sum(paper.PRETRAIN_IMAGES.values())])
    return table(["database", "what is taken", "images"], rows, ["---", "---", "---:"])


def block_pretrain_result():
    return ("Pre-training (section 4.2): %.2f %% validation accuracy of the ResNet-10 without "
            "attention on the five macro-expression classes.\n"
            % (100 * paper.PRETRAIN_VALIDATION_ACCURACY))


def block_table1():
    """Table 1's clips per class, with the totals the protocols use (classes
    I-V of CASME II and SAMM, pooled for CDE)."""
    rows = []
    kept = {}
    for name, counts in paper.TABLE1.items():
        classes = paper.SMIC_CLASSES if name == "smic" else paper.CLASSES
        kept[name] = sum(counts[c] for c in classes)
        rows.append([paper.DATASET_LABELS[name],
                     ", ".join("%s %d" % (c, n) for c, n in counts.items()),
                     "%d" % sum(counts.values()), "%d" % kept[name],
                     "%d" % paper.TABLE1_PARTICIPANTS[name]])
    rows.append(["CASME II + SAMM (CDE)", "", "", "%d" % (kept["casme2"] + kept["samm"]), ""])
    return table(["database", "clips per class", "clips", "used (I-V; SMIC all)",
                  "participants"], rows, ["---", "---", "---:", "---:", "---:"])


def block_table7():
    rows = [[emotion, ", ".join(aus)] for emotion, aus in paper.TABLE7.items()]
    return table(["emotion", "action units"], rows)


BLOCKS = {
    "table1": block_table1,
    "table7": block_table7,
    "pretrain-sets": block_pretrain_sets,
    "pretrain-result": block_pretrain_result,
    "protocols": block_protocols,
    "table2": block_table2,
    "table3": block_table3,
    "table4": block_table4,
    "table5": block_table5,
    "table5-counts": block_table5_counts,
    "table6": block_table6,
}

_BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) \(tools/make_docs\.py\) -->\n)"
                    r"(?P<body>.*?)"
                    r"(<!-- end generated: (?P=name) -->)", re.S)


def render(text):
    """The doc with every generated block rewritten; unknown or missing blocks are errors."""
    seen = []

    def fill(match):
        name = match.group("name")
        if name not in BLOCKS:
            raise SystemExit("%s: unknown generated block %r" % (DOC, name))
        seen.append(name)
        return match.group(1) + BLOCKS[name]() + match.group(4)

    out = _BLOCK.sub(fill, text)
    missing = sorted(set(BLOCKS) - set(seen))
    if missing:
        raise SystemExit("%s: no generated block for %s" % (DOC, ", ".join(missing)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="compare with the committed doc instead of writing it")
    args = ap.parse_args(argv)
    with open(DOC, encoding="utf-8") as f:
        current = f.read()
    wanted = render(current)
    if not files.write_or_check(DOC, wanted, args.check, ROOT):
        print("run tools/make_docs.py to regenerate it")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
