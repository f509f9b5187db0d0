"""The attention experiment's people, seeds and start weights, and the
budget tool's table: at least 6 held-out people, disjoint from pre-training
and validation (stated here independently of config.py), the demo's own
configuration unchanged, a seed and an attention draw of its own per fold
(drawn like Caffe's fillers, same seed same bytes), and the budget table's
control row. The fill tests need pycaffe (run inside the image)."""
import importlib.util
import pathlib

import numpy as np
import pytest

from microattention import files
from microattention.demo import config
from microattention.demo.pipeline import Demo
from microattention.errors import UserError

ROOT = pathlib.Path(__file__).resolve().parents[1]

# who is who, written out here rather than derived from config.py
DEMO_LOSO = {"obama", "biden", "hopper", "collins"}
ATTENTION_LOSO = DEMO_LOSO | {"takeo", "lenna"}
VALIDATION = {"feat-f15", "bald-b", "cruise"}
NEVER_USED = {"einstein"}


def names(text):
    return text.split(",")


def test_attention_holds_out_six_people_disjoint_from_pretraining_and_validation():
    c = config.CONFIGS["attention"]
    micro, macro = set(names(c.micro_people)), set(names(c.macro_people))
    assert micro == ATTENTION_LOSO and len(micro) >= 6
    assert not micro & macro
    validation = set(names(c.validation_people))
    assert validation == VALIDATION
    assert validation <= macro and not validation & micro
    # every other person of the demo pre-trains, but the one dlib rarely finds
    assert macro == set(names(config.FULL.macro_people)) - ATTENTION_LOSO
    assert not macro & NEVER_USED
    # pre-training still has people beyond the validation ones
    assert len(macro - validation) >= 10


def test_the_demo_configuration_is_unchanged():
    full = config.CONFIGS["full"]
    assert set(names(full.micro_people)) == DEMO_LOSO
    assert full.loso_seed_base is None and full.loso_epochs == 1
    assert config.CONFIGS["quick"].loso_seed_base is None
    # its demo.json holds the values it held before loso_seed_base existed
    assert full.pretrain_nets == ("resnet10",)
    values = Demo("/nonexistent", "full").settings["values"]
    assert set(values) == set(config.Config._fields) - {"loso_seed_base", "pretrain_nets"}
    assert "loso_seed_base" in Demo("/nonexistent", "attention").settings["values"]
    assert "pretrain_nets" in Demo("/nonexistent", "attention-pretrained").settings["values"]


def test_the_variant_outside_the_paper_is_flagged_and_the_paper_chain_is_not():
    variant = Demo("/nonexistent", "attention-pretrained")
    assert "NOT THE PAPER'S CHAIN" in variant.outside_paper()
    assert "micro_attention" in variant.outside_paper()
    assert Demo("/nonexistent", "attention").outside_paper() == ""
    assert Demo("/nonexistent", "full").outside_paper() == ""
    # the same people and LOSO budget as the paper's chain: only pre-training differs
    paper = config.CONFIGS["attention"]
    assert variant.config._replace(pretrain_nets=paper.pretrain_nets) == paper


def test_each_fold_has_its_own_seed_in_the_attention_experiment_only():
    attention, full = Demo("/x", "attention"), Demo("/x", "full")
    seeds = [attention.fold_seed(n) for n in range(1, 7)]
    assert len(set(seeds)) == 6
    assert [full.fold_seed(n) for n in range(1, 7)] == [0] * 6
    # the budget tool's validation folds never reuse a LOSO fold's draw
    tool = load_tool()
    validation = [attention.fold_seed(n + tool.VALIDATION_SEEDS) for n in range(1, 4)]
    assert not set(validation) & set(seeds)


def test_every_budget_candidate_is_a_valid_loso_variant():
    from microattention import protocols
    for name, (epochs, changes) in config.BUDGET_CANDIDATES.items():
        assert epochs >= 1, name
        p = protocols.variant("loso", **dict(config.FULL.loso_changes, **changes))
        assert p.solver in protocols.SOLVERS
    chosen = config.CONFIGS["attention"]
    assert (chosen.loso_epochs, chosen.loso_changes) in [
        (e, dict(config.FULL.loso_changes, **ch)) for e, ch in config.BUDGET_CANDIDATES.values()]


def test_the_chosen_budget_follows_the_rule_from_the_recorded_validation_figures():
    from microattention.attention.statistics import MOVED
    tried = [(name, r) for (name, net), r in config.BUDGET_VALIDATION.items()
             if net == "micro_attention" and name in config.BUDGET_CANDIDATES]
    assert {name for name, _ in tried} == set(config.BUDGET_CANDIDATES)  # every one recorded
    moved = [(name, r) for name, r in tried if min(r.change) >= MOVED]
    assert moved, "no candidate moved every attention stage"
    best = max(moved, key=lambda nr: (nr[1].right, -nr[1].cpu_min))[0]
    assert best == config.ATTENTION_BUDGET
    control = config.BUDGET_VALIDATION[("iteration 0", "micro_attention")]
    assert control.change == (0.0,) * 4 and control.faces == 90
    # the earlier attention budget is among them and did not move its units
    assert max(config.BUDGET_VALIDATION[("sgd-1e-3-e10", "micro_attention")].change) < MOVED


def load_tool():
    spec = importlib.util.spec_from_file_location("attention_budget",
                                                  str(ROOT / "tools" / "attention_budget.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_candidate_changes_the_demos_loso_protocol_not_the_chosen_one():
    tool = load_tool()
    d = Demo("/nonexistent", "attention")
    sgd = tool.candidate_protocol(d, config.BUDGET_CANDIDATES["sgd-1e-3-e10"][1])
    assert sgd.solver == "SGD" and sgd.base_lr == 1e-3
    chosen = tool.candidate_protocol(d, config.BUDGET_CANDIDATES[config.ATTENTION_BUDGET][1])
    assert chosen == d.protocol("loso")          # what demo --attention fine-tunes with


def row(tool, name, change, spread, right):
    return {"candidate": name, "net": "micro_attention", "chain": "paper's", "solver": "SGD", "base_lr": 1e-3,
            "epochs": 10, "iterations": "60", "right": right, "faces": 90, "p_chance": 0.5,
            "weight_change": {"attention_64": change}, "mask_spread": {"attention_64": spread},
            "wall_min": 1.5, "cpu_min": 2.5, "folds_timed": 3, "folds": 3}


def test_budget_table_lists_the_control_first_with_every_column():
    tool = load_tool()
    md, text = tool.table([row(tool, tool.CONTROL, 0.0, 0.01, 20),
                           row(tool, "sgd-1e-3-e10", 0.0123, 0.02, 40)])
    lines = md.splitlines()
    assert lines[0].startswith("| candidate | net |")
    assert "change attention_64" in lines[0] and "spread attention_64" in lines[0]
    assert lines[2].startswith("| %s |" % tool.CONTROL)
    assert "| 0.0123 |" in lines[3] and "| 40 of 90 |" in lines[3]
    assert text.splitlines()[2].split(",")[0] == "sgd-1e-3-e10"


# ---------------------------------------------------------------- needs pycaffe

def caffe_or_skip():
    from microattention.nets import prototxt
    try:
        return prototxt.import_caffe()
    except ImportError:
        pytest.skip("pycaffe not available (run inside the image)")


def read_caffemodel(path):
    from microattention.nets.caffemodel import read_caffemodel as read
    return read(path)


def transferred(tmp_path, caffe_seed=5):
    """A ResNet-10 model from seeded fillers, transferred into micro-attention
    (the attention units left out, as the demo's transfer leaves them)."""
    caffe = caffe_or_skip()
    from microattention import cli
    from microattention.nets import prototxt
    caffe.set_random_seed(caffe_seed)
    tmp_path.mkdir(exist_ok=True)
    src = tmp_path / "resnet10.caffemodel"
    prototxt.build(prototxt.render_deploy("resnet10"), "TEST").save(str(src))
    out = tmp_path / "weights" / "micro_attention_macro.caffemodel"
    out.parent.mkdir()
    assert cli.main(["weights", "transfer", "--from", str(src), "--to", "micro_attention",
                     "--out", str(out)]) == 0
    return out


def test_fold_start_draws_the_units_per_fold_for_the_attention_net_only(tmp_path):
    start = transferred(tmp_path)
    d = Demo(tmp_path, "attention")
    said = []
    d.say = said.append
    d.start_weights = lambda net: start
    one = d.fold_start("micro_attention", "sub01", d.fold_seed(1))
    two = d.fold_start("micro_attention", "sub02", d.fold_seed(2))
    assert one != two and one.is_file() and two.is_file()
    a, b = read_caffemodel(str(one)), read_caffemodel(str(two))
    for stage in (64, 128, 256, 512):
        name = "mask_Concat_%d_1x1" % stage
        assert name not in read_caffemodel(str(start))        # left to fillers by the transfer
        assert not np.array_equal(a[name][1][0], b[name][1][0])  # each fold its own draw
    record = files.read_json(str(one) + ".json")
    assert record["settings"]["seed"] == d.fold_seed(1)
    assert record["inputs"]["in"]["sha256"] == files.sha256(start)
    # drawn once: asked again, the same file is used as it is
    stamp = one.stat().st_mtime_ns
    assert d.fold_start("micro_attention", "sub01", d.fold_seed(1)) == one
    assert one.stat().st_mtime_ns == stamp and len(said) == 2
    # a changed transfer is drawn from again
    other = transferred(tmp_path / "other", caffe_seed=6)
    start.write_bytes(other.read_bytes())
    pathlib.Path(str(start) + ".json").write_text(pathlib.Path(str(other) + ".json").read_text())
    assert d.fold_start("micro_attention", "sub01", d.fold_seed(1)) == one
    assert len(said) == 3
    assert files.read_json(str(one) + ".json")["inputs"]["in"]["sha256"] == files.sha256(start)
    assert d.fold_start("resnet10", "sub01", d.fold_seed(1)) == start   # no units: as it is
    # the variant's micro-attention net brings its units from pre-training
    variant = Demo(tmp_path, "attention-pretrained")
    variant.start_weights = lambda net: start
    assert variant.fold_start("micro_attention", "sub01", variant.fold_seed(1)) == start
    # the demo's own configuration starts every fold from the transfer
    full = Demo(tmp_path, "full")
    full.start_weights = lambda net: start
    assert full.fold_start("micro_attention", "sub01", full.fold_seed(1)) == start


def test_the_variant_has_its_own_flag_and_is_one_run_at_a_time(tmp_path):
    import argparse
    from microattention.demo import command
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    [variant] = [a for a in parser._actions if "--attention-pretrained" in a.option_strings]
    assert "OUTSIDE THE PAPER'S CHAIN" in variant.help
    for flags in (["--attention", "--attention-pretrained"], ["--quick", "--attention-pretrained"]):
        with pytest.raises(UserError, match="different runs"):
            command.run(parser.parse_args(flags + ["--out", str(tmp_path / "x")]))
    assert not (tmp_path / "x").exists()
