"""The attention experiment's people, seeds and start weights, and the
budget tool's table: at least 6 held-out people, disjoint from pre-training
and validation (stated here independently of config.py), the demo's own
configuration unchanged, a seed and an attention draw of its own per fold
(drawn like Caffe's fillers, same seed same bytes), and the budget table's
control row. The fill tests need pycaffe (run inside the image)."""
import importlib.util
import json
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
    values = Demo("/nonexistent", "full").settings["values"]
    assert "loso_seed_base" not in values
    assert set(values) == set(config.Config._fields) - {"loso_seed_base"}
    assert "loso_seed_base" in Demo("/nonexistent", "attention").settings["values"]


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


def load_tool():
    spec = importlib.util.spec_from_file_location("attention_budget",
                                                  str(ROOT / "tools" / "attention_budget.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(tool, name, change, spread, right):
    return {"candidate": name, "net": "micro_attention", "solver": "SGD", "base_lr": 1e-3,
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


def transferred(tmp_path):
    """A ResNet-10 model from seeded fillers, transferred into micro-attention
    (the attention units left out, as the demo's transfer leaves them)."""
    caffe = caffe_or_skip()
    from microattention import cli
    from microattention.nets import prototxt
    caffe.set_random_seed(5)
    src = tmp_path / "resnet10.caffemodel"
    prototxt.build(prototxt.render_deploy("resnet10"), "TEST").save(str(src))
    out = tmp_path / "weights" / "micro_attention_macro.caffemodel"
    out.parent.mkdir()
    assert cli.main(["weights", "transfer", "--from", str(src), "--to", "micro_attention",
                     "--out", str(out)]) == 0
    return out


def test_fill_draws_the_missing_layers_by_their_fillers_and_keeps_the_rest(tmp_path):
    from microattention.demo.initialisation import fill_missing
    from microattention.nets.caffemodel import read_caffemodel
    from microattention.attention.maps import load_net
    start = transferred(tmp_path)
    a, b, c = (tmp_path / n for n in ("a.caffemodel", "b.caffemodel", "c.caffemodel"))
    filled = fill_missing(start, "micro_attention", 7, a)
    fill_missing(start, "micro_attention", 7, b)
    fill_missing(start, "micro_attention", 8, c)
    assert filled == ["mask_Concat_%d_1x1%s" % (s, k) for s in (64, 128, 256, 512)
                      for k in ("", "_one")]
    assert a.read_bytes() == b.read_bytes()               # same seed, same bytes
    src, ma, mc = read_caffemodel(str(start)), read_caffemodel(str(a)), read_caffemodel(str(c))
    for name in src:                                      # the transfer kept as it was
        assert all(np.array_equal(x, y) for x, y in zip(src[name][1], ma[name][1])), name
    for stage in (64, 128, 256, 512):
        w = ma["mask_Concat_%d_1x1" % stage][1][0]
        assert w.shape == (stage, 3 * stage, 1, 1)
        # Caffe's msra: zero mean, variance 2 / fan_in (fan_in = 3C)
        assert abs(w.std() - np.sqrt(2.0 / (3 * stage))) < 0.05 * np.sqrt(2.0 / (3 * stage))
        assert not np.array_equal(w, mc["mask_Concat_%d_1x1" % stage][1][0])  # another seed
        one = ma["mask_Concat_%d_1x1_one" % stage][1][0]
        assert np.allclose(one, 1.0 / stage)
    record = files.read_json(str(a) + ".json")
    assert record["stage"] == "attention-fill" and record["settings"]["seed"] == 7
    load_net("micro_attention", str(a))                   # a whole micro-attention model


def test_fold_start_fills_per_fold_only_where_the_transfer_left_fillers(tmp_path):
    start = transferred(tmp_path)
    d = Demo(tmp_path, "attention")
    d.say = lambda text: None
    d.start_weights = lambda net: start
    one = d.fold_start("micro_attention", "sub01", d.fold_seed(1))
    two = d.fold_start("micro_attention", "sub02", d.fold_seed(2))
    assert one != two and one.is_file() and two.is_file()
    assert one.read_bytes() != two.read_bytes()
    again = d.fold_start("micro_attention", "sub01", d.fold_seed(1))
    assert again == one
    # a model the transfer filled whole (the baseline) is used as it is
    from microattention.nets.sidecar import provenance_path
    record = files.read_json(provenance_path(start))
    record["layers"]["from_fillers"] = []
    pathlib.Path(provenance_path(start)).write_text(json.dumps(record))
    assert d.fold_start("resnet10", "sub01", d.fold_seed(1)) == start
    # the demo's own configuration starts every fold from the transfer
    full = Demo(tmp_path, "full")
    full.start_weights = lambda net: start
    assert full.fold_start("micro_attention", "sub01", full.fold_seed(1)) == start


def test_a_filler_the_fill_cannot_draw_is_refused():
    caffe_or_skip()
    from microattention.demo.initialisation import draw
    from microattention.nets import prototxt
    filler = prototxt.pb().FillerParameter(type="bilinear")
    with pytest.raises(UserError, match="bilinear"):
        draw(filler, (2, 2, 1, 1), np.random.RandomState(0), "layer_x")
