"""The setup-vs-paper table: every protocol setting of each run beside the
protocol table (microattention.protocols), differences flagged.
"""
import collections
import pathlib
import re

from microattention import protocols
from microattention.errors import UserError
from microattention.report.tables import PAPER_TABLE, number_text
from microattention.train import layout

# ------------------------------------------------------------------ setup vs paper

_SOLVER_FIELD = re.compile(r"^\s*(type|base_lr|momentum|weight_decay|gamma|stepsize|max_iter|"
                           r"lr_policy|random_seed)\s*:\s*\"?([^\"\s#]+)", re.M)
AUG_FIELDS = collections.OrderedDict([
    ("colour_shift", "augmentation: colour shift (max)"),
    ("rotation", "augmentation: rotation (max degrees)"),
    ("smoothing", "augmentation: smoothing window (max)"),
    ("corner_crops", "augmentation: 4 corner crops"),
    ("p", "augmentation: probability of each")])
SETTINGS = collections.OrderedDict([
    ("net", "net trained"),
    ("initial_weights", "initial weights"),
    ("solver", "solver (Caffe type)"),
    ("batch", "batch (train)"),
    ("test_batch", "batch (test)"),
    ("base_lr", "base lr"),
    ("momentum", "momentum"),
    ("weight_decay", "weight decay"),
    ("step_epochs", "lr step (epochs)"),
    ("gamma", "lr factor per step"),
    ("total_epochs", "epochs in all"),
])
for _k, _v in AUG_FIELDS.items():
    SETTINGS["aug." + _k] = _v
SETTINGS["resample"] = "classes resampled to the largest"
SETTINGS["bn_recalibration"] = "BatchNorm statistics tested with"

# the rows the protocol table has no field for
BN_PAPER = "Caffe's running averages"
IMAGENET = "ImageNet"
IMAGENET_THEN_MACRO = "ImageNet, then pre-training on macro-expressions"
NOT_TRACED = "NOT traced to ImageNet"
OUTSIDE_TABLE = ("initial_weights", "bn_recalibration")


def origin_label(record, protocol):
    """The initial weights' origin as the setup table compares it."""
    if not record or not record.get("imagenet"):
        return NOT_TRACED
    pretrained = record.get("pretrained")
    if pretrained is None:     # recorded before the field: the link train-fold wrote
        pretrained = any("train-fold pretrain/" in link for link in record.get("chain") or [])
    return IMAGENET_THEN_MACRO if pretrained and protocol != "pretrain" else IMAGENET


def _solver_values(path):
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    out = {}
    for key, value in _SOLVER_FIELD.findall(text):
        try:
            out[key] = int(value) if re.match(r"^-?\d+$", value) else float(value)
        except ValueError:
            out[key] = value
    return out


def _paper_value(p, field):
    if field == "bn_recalibration":
        return BN_PAPER
    if field == "initial_weights":
        return IMAGENET if p.name == "pretrain" else IMAGENET_THEN_MACRO
    if field.startswith("aug."):
        return getattr(p.augmentation, field[4:])
    return getattr(p, field)


def _settings_protocol(fold):
    """The protocol a fold's settings.json names (its protocol_changes
    applied): what it trains with before provenance.json records it. A
    UserError naming that settings.json when this version cannot read its
    changes (the paper's values would hide them)."""
    settings = fold.settings
    try:
        changes = dict(settings.get("protocol_changes") or {})
        if isinstance(changes.get("augmentation"), dict):
            changes["augmentation"] = protocols.Augmentation(**changes["augmentation"])
        return protocols.variant(settings.get("protocol"), **changes)
    except (TypeError, ValueError, UserError) as exc:
        raise UserError("%s: protocol_changes %s cannot be read by this version (%s)" % (
            fold.path / layout.SETTINGS_NAME, settings.get("protocol_changes"), exc))


def _run_values(run):
    """field -> [(value, fold ids)] of what the run's folds used; None when
    nothing of the run records it yet."""
    seen = collections.OrderedDict((f, collections.OrderedDict()) for f in SETTINGS)

    def note(field, value, fold):
        if isinstance(value, list):
            value = tuple(value)
        seen[field].setdefault(value, []).append(fold)

    for fold in run.folds:
        note("net", fold.settings.get("net"), fold.id)
        note("total_epochs", fold.settings.get("epochs"), fold.id)
        note("bn_recalibration", "recomputed: %s" % fold.settings["bn_recalibration"]
             if fold.settings.get("bn_recalibration") else BN_PAPER, fold.id)
        prov = fold.provenance
        if not prov:
            # not finished: what its settings.json says it trains with
            p = _settings_protocol(fold)
            for field in SETTINGS:
                if field not in ("net", "total_epochs", "bn_recalibration", "initial_weights"):
                    note(field, _paper_value(p, field), fold.id)
            continue
        note("initial_weights", origin_label(prov.get("initial_weights"), run.protocol),
             fold.id)
        table = prov.get("protocol_table") or {}
        schedule = prov.get("schedule") or {}
        solver = _solver_values(fold.path / "solver.prototxt")
        for field in ("batch", "test_batch"):
            value = schedule.get(field, table.get(field))
            if value is not None:
                note(field, value, fold.id)
        for field in ("base_lr", "momentum", "weight_decay", "gamma"):
            value = solver.get(field, table.get(field))
            if value is not None:
                note(field, value, fold.id)
        # Caffe's default type is SGD: a solver.prototxt without `type` ran SGD
        note("solver", solver.get("type", table.get("solver", "SGD")), fold.id)
        per_epoch = schedule.get("iterations_per_epoch")
        if solver.get("stepsize") and per_epoch:
            note("step_epochs", solver["stepsize"] / float(per_epoch), fold.id)
        elif table.get("step_epochs") is not None:
            note("step_epochs", table["step_epochs"], fold.id)
        aug = table.get("augmentation") or {}
        for key in AUG_FIELDS:
            if key in aug:
                note("aug." + key, aug[key], fold.id)
        if "resample" in table:
            note("resample", table["resample"], fold.id)
    return seen


def _weight_chains(run):
    """[text] of the distinct initial-weight chains of the run's finished folds."""
    out = collections.OrderedDict()
    for fold in run.done_folds:
        record = (fold.provenance or {}).get("initial_weights") or {}
        text = " < ".join(record.get("chain") or ["not recorded by the run"])
        out.setdefault(text, []).append(fold.id)
    return ["%s%s: %s" % (run.label, "" if len(out) == 1 else " (folds %s)" % ", ".join(
        folds[:4]) + (", ..." if len(folds) > 4 else ""), text) for text, folds in out.items()]


def _same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
    return a == b


def _setting_cell(run, values, field, label, expected, protocol, loud):
    """One run's cell of the setup table: its value(s) by fold, marked (and added
    to `loud`) where they are not the paper's."""
    if not values:
        return "not recorded yet (no finished fold)"
    parts = []
    for value, folds in values.items():
        value_text = number_text(value)
        if len(values) > 1:
            value_text += " (folds %s)" % ", ".join(folds[:4]) + (
                ", ..." if len(folds) > 4 else "")
        if field == "net":
            if value != expected and protocol == "pretrain":
                value_text += " - **NOT the paper's setup**"
                loud.append("%s: pre-training trained `%s`, the paper pre-trains `%s`"
                            % (run.label, value, expected))
            elif value != expected:
                value_text += " (the paper trains this net with the same protocol)"
        elif not _same(value, expected):
            value_text += " - **NOT the paper's setup**"
            loud.append("%s: %s is %s, %s %s" % (
                run.label, label, number_text(value), "the paper's setup is"
                if field in OUTSIDE_TABLE else "the protocol table says",
                number_text(expected)))
        parts.append(value_text)
    return "; ".join(parts)


def section_setup(runs):
    protocol = runs[0].protocol
    p = protocols.PROTOCOLS[protocol]
    choices = {field: why for (name, field), why in protocols.CHOICES.items()
               if name == protocol}
    header = ["setting", "paper (protocol table, %s)" % p.section] \
        + ["%s" % r.label for r in runs] + ["project choice (protocols.CHOICES)"]
    rows, loud = [], []
    values_of = [_run_values(run) for run in runs]
    for field, label in SETTINGS.items():
        expected = _paper_value(p, field)
        choice_key = "augmentation" if field.startswith("aug.") else field
        why = choices.get(choice_key, "")
        cells = [_setting_cell(run, run_values[field], field, label, expected, protocol, loud)
                 for run, run_values in zip(runs, values_of)]
        reason = "† " + why if why else ""
        if why and choice_key == "augmentation" and field != "aug.colour_shift":
            reason = "† (augmentation: see above)"
        rows.append([label, number_text(expected) + (" †" if why else "")] + cells + [reason])
    blocks = [("h", 2, "Setup: this run versus the paper")]
    for text in loud:
        blocks.append(("warn", "%s. This run is NOT the paper's setup; its numbers are not a "
                               "reproduction of %s." % (text, PAPER_TABLE[protocol])))
    blocks += [
        ("p", "Every setting of the `%s` protocol from `microattention.protocols` (PROTOCOLS, "
              "CHOICES), the source docs/paper-setup.md is generated from, beside what each "
              "run used (its settings.json, provenance.json and solver.prototxt). † marks a "
              "project choice: the paper does not give the value (or prints it garbled); the "
              "reason is in the last column. The initial weights count as the paper's only "
              "when their records (the weights command's sidecars, the pre-training fold's "
              "provenance.json) lead back to the ImageNet ResNet-10 by sha256; the paper "
              "tests with the BatchNorm statistics Caffe keeps while training." % protocol),
        ("table", header, rows),
        ("list", ["initial weights of " + text for run in runs
                  for text in _weight_chains(run)] or ["no finished fold: initial weights "
                                                       "not recorded yet"])]
    other = [why for (name, field), why in protocols.CHOICES.items() if name == protocol
             and field not in SETTINGS and field != "augmentation"]
    if other:
        blocks.append(("list", ["project choice: " + w for w in other]))
    blocks.append(("p", "Every fold is tested on its final snapshot after the fixed epoch "
                        "budget; no epoch is picked by looking at the test fold."))
    return blocks

