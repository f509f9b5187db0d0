#!/usr/bin/env python3
"""Choose the attention experiment's fine-tuning budget on the validation
people only: each candidate (demo.config.BUDGET_CANDIDATES: LOSO epochs and
changes to the demo's LOSO protocol) fine-tunes the micro-attention net in
LOSO folds over the validation people (pre-training people held out of
pre-training whole, mirror images included; never a LOSO test person), each
fold from its own seed and attention draw as the experiment's folds are.
Per candidate: the validation accuracy, each attention stage's relative
weight change ||W_end - W_start|| / ||W_start|| (mean over the folds) and
its mask spread over the held-out validation faces, and the minutes it
took. The first row is the control: the untrained start weights (iteration
0), scored by the same code. Inside the image:

  docker run --rm -v "$PWD/workspace:/workspace" localhost/micro-attention \\
      python3 /opt/micro-attention/tools/attention_budget.py prepare --demo budget
  ... python3 /opt/micro-attention/tools/attention_budget.py run --demo budget \\
      [--candidate NAME ...] [--net resnet10]

`prepare` runs the demo's stages data .. transfer of the configuration
(default attention) into --demo; `run` trains the candidates under
DEMO/attention-budget/<candidate>/ (a finished fold is not trained again)
and writes DEMO/attention-budget/budget.md and budget.csv."""
import argparse
import collections
import csv
import io
import os
import pathlib
import resource
import sys
import time

os.environ.setdefault("GLOG_minloglevel", "2")   # Caffe's own log: the fold logs keep it

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from microattention import files, metrics, protocols  # noqa: E402
from microattention.attention import maps, samples  # noqa: E402
from microattention.attention.learning import (  # noqa: E402
    attention_layers, mask_spread, weight_change)
from microattention.attention.statistics import MOVED  # noqa: E402
from microattention.demo.config import BUDGET_CANDIDATES, CONFIGS, STAGES  # noqa: E402
from microattention.demo.pipeline import Demo  # noqa: E402
from microattention.demo.statistics import binomial_tail  # noqa: E402
from microattention.errors import UserError  # noqa: E402
from microattention.nets import prototxt  # noqa: E402
from microattention.train import layout, runs, selection  # noqa: E402
from microattention.train.fold import train_fold  # noqa: E402
from microattention.train.schedule import SEED_STRIDE  # noqa: E402

PREPARED = STAGES[:STAGES.index("transfer") + 1]
# what the preparation stages depend on: the rest (LOSO, figures) may change
# while a prepared folder is reused
LOSO_ONLY = ("loso_epochs", "loso_changes", "loso_folds", "figure_samples", "loso_seed_base")
RECORD = "budget-prepared.json"
# the validation folds' seeds: loso_seed_base + this + the fold's number, so
# that no validation fold starts from a LOSO fold's attention draw
VALIDATION_SEEDS = 50
CONTROL = "iteration 0 (the folds' start)"


def children_cpu():
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def prepared_values(config_name):
    """The config's values as its demo.json records them, but the LOSO ones."""
    values = Demo(ROOT, config_name).settings["values"]
    return collections.OrderedDict((k, v) for k, v in values.items() if k not in LOSO_ONLY)


def open_demo(out, config_name):
    """The Demo of a prepared folder, checked: prepared for this config's
    data and pre-training."""
    d = Demo(out, config_name)
    record = files.read_json(d.p(RECORD), "run prepare again")
    if record is None:
        raise UserError("%s: not prepared; run: attention_budget.py prepare --demo %s"
                        % (d.out, out))
    if record != {"config": config_name, "values": prepared_values(config_name)}:
        raise UserError("%s was prepared with other data or pre-training settings (%s); "
                        "prepare another --demo" % (d.out, d.p(RECORD)))
    return d


def prepare(out, config_name):
    d = Demo(out, config_name)
    files.output_dir(d.out)
    record = {"config": config_name, "values": prepared_values(config_name)}
    old = files.read_json(d.p(RECORD), "remove the folder and prepare again")
    if old is not None and old != record:
        raise UserError("%s was prepared with other settings; prepare another --demo" % d.out)
    files.write_json(d.p(RECORD), record)
    for number, stage in enumerate(PREPARED, start=1):
        d.run_stage(number, stage)
    return d


def candidate_protocol(d, changes):
    """The demo's LOSO protocol with a candidate's changes (as the attention
    configuration makes its own from the chosen one)."""
    return protocols.variant("loso", **dict(CONFIGS["full"].loso_changes, **changes))


def train_candidate(d, name, net, root):
    """Train the candidate's folds over the validation people; returns
    [(fold, start weights, done)] and records its wall and CPU seconds."""
    epochs, changes = BUDGET_CANDIDATES[name]
    index = d.p("index", "ckplus-validation.csv")
    run_dir = root / name
    folds = [f["fold"] for f in selection.fold_list(index, "loso")]
    times_path = run_dir / ("%s-times.json" % net)
    times = files.read_json(times_path) or {}
    out = []
    for number, fold in enumerate(folds, start=1):
        seed = d.fold_seed(number + VALIDATION_SEEDS)
        start = d.fold_start(net, fold, seed)
        t0, c0 = time.time(), children_cpu()
        done = train_fold(index, d.p("faces", "ckplus"), candidate_protocol(d, changes), fold,
                          start, net=net, run_dir=run_dir, epochs=epochs, seed=seed,
                          recalibrate_bn=True, log=lambda text: None)
        if not done.get("skipped"):
            times[fold] = [round(time.time() - t0, 1), round(children_cpu() - c0, 1)]
            files.write_json(times_path, times)
        print("%s %s fold %s (seed %d): %.3f on %d faces" % (
            name, net, fold, seed, done["metrics"]["war"], done["metrics"]["samples"]),
            flush=True)
        out.append((fold, start, done))
    runs.pool(run_dir, "loso", net, folds, metrics)
    return out, times


def held_out_maps(d, net, weights, test_ids, faces, start_of=None):
    """[(sample id, attention maps, predicted class index)] of the held-out
    faces under `weights`; with start_of (the fold's trained weights, its
    seed), `weights` are the fold's start, loaded as Caffe starts from them."""
    if start_of:
        loaded, _ = maps.load_start_net(net, str(weights), str(start_of[0]), start_of[1])
    else:
        loaded, _ = maps.load_net(net, str(weights), "weights")
    out = []
    for sid in test_ids:
        face = samples.read_face(str(d.p("faces", "ckplus", faces[sid]["crop"])), "faces.csv")
        face_maps, prob = maps.forward(loaded, face)
        out.append((sid, face_maps, int(prob.argmax())))
    return out


def spreads(scored):
    """{attention stage: mask spread} over the faces' maps."""
    stages = [k for k in scored[0][1] if k != maps.FEATURE] if scored else []
    return collections.OrderedDict(
        (s, mask_spread([m[s] for _, m, _ in scored])) for s in stages)


def score_folds(d, net, trained, control):
    """(maps of every held-out face, {sample id: true label}, [weight change
    per fold]) under the folds' final weights, or their start weights when
    `control`."""
    faces = {r["sample_id"]: r for r in csv.DictReader(io.StringIO(
        d.p("faces", "ckplus", "faces.csv").read_text(encoding="utf-8")))}
    scored, labels, changes = [], {}, []
    for _, start, done in trained:
        fold_dir = pathlib.Path(done["fold_dir"])
        final = fold_dir / layout.FINAL_NAME
        test_ids = (fold_dir / "test.txt").read_text().split()
        start_of = (final, done["settings"]["seed"] * SEED_STRIDE + 1) if control else None
        scored += held_out_maps(d, net, start if control else final, test_ids, faces, start_of)
        if not control:
            changes.append(weight_change(start, final, net))
        text = (fold_dir / layout.PREDICTIONS_NAME).read_text(encoding="utf-8")
        labels.update((r["sample_id"], int(r["true_label"]))
                      for r in csv.DictReader(io.StringIO(text)))
    return scored, labels, changes


def measure(d, name, net, trained, times):
    """One table row: the candidate `name`, or CONTROL (the start weights of
    the same folds, scored by the same code)."""
    control = name == CONTROL
    scored, labels, changes = score_folds(d, net, trained, control)
    right = sum(1 for sid, _, k in scored if k == labels[sid])
    epochs, changed = (0, {}) if control else BUDGET_CANDIDATES[name]
    p = candidate_protocol(d, changed)
    spread = spreads(scored)
    change = collections.OrderedDict(
        (s, sum(c[s] for c in changes) / len(changes) if changes else 0.0) for s in spread)
    its = sorted({files.read_json(pathlib.Path(done["fold_dir"]) / layout.PROVENANCE_NAME)
                  ["schedule"]["max_iter"] for _, _, done in trained}) if epochs else [0]
    return collections.OrderedDict([
        ("candidate", name), ("net", net),
        ("chain", "NOT THE PAPER'S" if d.outside_paper() else "paper's"),
        ("solver", p.solver if epochs else "-"),
        ("base_lr", p.base_lr if epochs else 0.0), ("epochs", epochs),
        ("iterations", "-".join(str(i) for i in sorted({its[0], its[-1]}))),
        ("right", right), ("faces", len(scored)),
        ("p_chance", binomial_tail(right, len(scored), 0.2)),
        ("weight_change", change), ("mask_spread", spread),
        ("wall_min", sum(t[0] for t in times.values()) / 60.0),
        ("cpu_min", sum(t[1] for t in times.values()) / 60.0),
        ("folds_timed", len(times)), ("folds", len(trained))])


def table(rows):
    """(markdown, csv) of the rows."""
    stages = list(rows[0]["mask_spread"]) if rows else []
    head = (["candidate", "net", "chain", "solver", "lr", "epochs", "iterations/fold", "right",
             "P(X>=right|0.2)"] + ["change %s" % s for s in stages]
            + ["spread %s" % s for s in stages]
            + ["stages moved (change >= %g)" % MOVED, "wall min", "CPU min", "folds timed"])
    body = []
    for r in rows:
        body.append([r["candidate"], r["net"], r["chain"], r["solver"], "%g" % r["base_lr"],
                     str(r["epochs"]), r["iterations"], "%d of %d" % (r["right"], r["faces"]),
                     "%.2g" % r["p_chance"]]
                    + ["%.4f" % r["weight_change"][s] for s in stages]
                    + ["%.4f" % r["mask_spread"][s] for s in stages]
                    + ["%d of %d" % (sum(r["weight_change"][s] >= MOVED for s in stages),
                                     len(stages)),
                       "%.1f" % r["wall_min"], "%.1f" % r["cpu_min"],
                       "%d of %d" % (r["folds_timed"], r["folds"])])
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(b) + " |" for b in body]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    writer.writerows(body)
    return "\n".join(md) + "\n", out.getvalue()


NOTE = ("Validation people only (LOSO folds over the pre-training people held out of "
        "pre-training); each fold from its own seed (and, where the transfer left them to their "
        "fillers, its attention units drawn from it). change: "
        "||W_end - W_start|| / ||W_start|| of the stage's learned 1x1 convolution, mean over "
        "the folds (a stage moved when it reaches attention.statistics.MOVED, the "
        "measurement's own rule); spread: mean per-face standard deviation of the stage's "
        "Sigmoid mask over "
        "the held-out faces; the first row scores the start weights (iteration 0). Minutes: "
        "the folds trained in this call (a shared machine slows the wall time; CPU minutes "
        "are the steadier figure).\n")


def pretraining_change(d, nets):
    """A line per net whose attention units the config pre-trains: their
    weight change in pre-training (from their drawn start)."""
    lines = []
    for net in nets:
        if net in d.config.pretrain_nets and attention_layers(prototxt.load(net)):
            start = d.p("weights", "%s_pretrain_start.caffemodel" % net)
            change = weight_change(start, d.pretrained(net), net)
            lines.append("%s's attention units in pre-training (%s to its final weights): "
                         "change %s\n\n" % (net, start.name, ", ".join(
                             "%s %.4f" % kv for kv in change.items())))
    return "".join(lines)


def run(out, config_name, names, nets):
    d = open_demo(out, config_name)
    root = d.p("attention-budget")
    rows = []
    for net in nets:
        for number, name in enumerate(names):
            trained, times = train_candidate(d, name, net, root)
            if number == 0:
                rows.append(measure(d, CONTROL, net, trained, {}))
            rows.append(measure(d, name, net, trained, times))
    md, text = table(rows)
    files.output_dir(root)
    flag = d.outside_paper() + "\n\n" if d.outside_paper() else ""
    flag += pretraining_change(d, nets)
    files.write_together({root / "budget.md": "# Attention budget (%s)\n\n%s%s\n%s"
                          % (config_name, flag, md, NOTE),
                          root / "budget.csv": text})
    print(flag + md + "\n" + NOTE + "written: %s, %s" % (root / "budget.md", root / "budget.csv"))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("prepare", "run"))
    parser.add_argument("--demo", required=True, help="the folder (prepared by prepare)")
    parser.add_argument("--config", default="attention", choices=list(CONFIGS),
                        help="the demo configuration whose data and pre-training are used "
                             "(default attention)")
    parser.add_argument("--candidate", action="append", choices=list(BUDGET_CANDIDATES),
                        help="a candidate budget (default: all of them)")
    parser.add_argument("--net", action="append", choices=("micro_attention", "resnet10"),
                        help="the nets (default micro_attention; resnet10 has no attention "
                             "units and gives accuracy only)")
    args = parser.parse_args(argv)
    try:
        if args.action == "prepare":
            prepare(args.demo, args.config)
        else:
            run(args.demo, args.config, args.candidate or list(BUDGET_CANDIDATES),
                args.net or ["micro_attention"])
    except (UserError, OSError) as error:
        print("attention_budget: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
