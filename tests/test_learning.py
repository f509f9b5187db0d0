"""attention.learning: did the attention units move? The relative weight
change of each stage's learned layers between two caffemodels, and the
spread of a mask over faces, on weights and maps with known answers."""
import numpy as np
import pytest

from microattention.attention import learning
from microattention.errors import UserError
from microattention.nets import caffemodel, prototxt

try:
    prototxt.pb()
except ImportError:
    pytest.skip("caffe's protobuf module not available (run inside the image)",
                allow_module_level=True)


def _model(embedding, averaging):
    """A Model of the micro-attention units only: per stage C the learned
    embedding W* (3C -> C) and the fixed averaging convolution (C -> 1)."""
    model = caffemodel.Model()
    for c in prototxt.STAGES:
        model["mask_Concat_%d_1x1" % c] = ("Convolution", [embedding(c)])
        model["mask_Concat_%d_1x1_one" % c] = ("Convolution", [averaging(c)])
    return model


def test_attention_layers_of_the_micro_attention_net():
    stages = learning.attention_layers(prototxt.load("micro_attention"))
    assert list(stages) == ["attention_%d" % c for c in prototxt.STAGES]
    # the averaging 1x1 convolution has lr_mult 0: only the embedding W* is learned
    assert all(names == ["mask_Concat_%d_1x1" % int(s.split("_")[1])]
               for s, names in stages.items())


def test_attention_layers_of_the_complex_attention_net_and_resnet10():
    stages = learning.attention_layers(prototxt.load("complex_attention"))
    # conv, its Scale (BatchNorm statistics are not learned) and the second conv
    assert stages["attention_64"] == ["layer_64_1_att_conv1", "layer_64_1_att_scale1",
                                      "layer_64_1_att_conv2"]
    assert learning.attention_layers(prototxt.load("resnet10")) == {}


def test_weight_change_known_weights(tmp_path):
    rng = np.random.RandomState(0)
    start = {c: rng.normal(size=(c, 3 * c, 1, 1)).astype(np.float32) for c in prototxt.STAGES}
    scale = {64: 1.5, 128: 1.0, 256: 0.0, 512: -1.0}   # change |s - 1|

    def averaging(c):
        return np.full((1, c, 1, 1), 1.0 / c, np.float32)

    def moved_averaging(c):   # lr_mult 0: a change here must not count
        return np.full((1, c, 1, 1), 7.0, np.float32)
    a = caffemodel.write_caffemodel(_model(lambda c: start[c], averaging),
                                    str(tmp_path / "a.caffemodel"))
    b = caffemodel.write_caffemodel(
        _model(lambda c: start[c] * np.float32(scale[c]), moved_averaging),
        str(tmp_path / "b.caffemodel"))
    change = learning.weight_change(a, b, "micro_attention")
    assert list(change) == ["attention_64", "attention_128", "attention_256", "attention_512"]
    for c in prototxt.STAGES:
        assert change["attention_%d" % c] == pytest.approx(abs(scale[c] - 1), abs=1e-6)
    assert learning.weight_change(a, a, "micro_attention")["attention_64"] == 0.0
    assert learning.weight_change(a, b, "resnet10") == {}


def test_weight_change_refuses_a_model_without_the_units(tmp_path):
    model = caffemodel.Model()
    model["conv1"] = ("Convolution", [np.ones((2, 1, 3, 3), np.float32)])
    a = caffemodel.write_caffemodel(model, str(tmp_path / "a.caffemodel"))
    with pytest.raises(UserError, match="holds no layer mask_Concat_64_1x1"):
        learning.weight_change(a, a, "micro_attention")


def test_relative_change():
    assert learning.relative_change([np.array([3.0, 4.0])], [np.array([3.0, 4.0])]) == 0
    assert learning.relative_change([np.array([3.0, 4.0])], [np.array([0.0, 0.0])]) == 1
    # two arrays as one vector: ||(1, 0, 0, 0)|| / ||(0, 1, 1, 1)||
    assert learning.relative_change([np.zeros(1), np.ones(3)],
                                    [np.ones(1), np.ones(3)]) == pytest.approx(1 / np.sqrt(3))
    with pytest.raises(ValueError, match="all zero"):
        learning.relative_change([np.zeros(2)], [np.ones(2)])


def test_mask_spread():
    # a constant mask (what an untrained Sigmoid near 0.5 tends to) spreads 0
    assert learning.mask_spread([np.full((7, 7), 0.5), np.full((7, 7), 0.7)]) == \
        pytest.approx(0.0, abs=1e-12)
    half = np.zeros((4, 4))
    half[:, :2] = 1.0   # std 0.5
    assert learning.mask_spread([half, np.zeros((4, 4))]) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        learning.mask_spread([])


def test_weight_change_of_a_start_without_the_units_is_unknown_when_asked(tmp_path):
    end = _model(lambda c: np.ones((c, 3 * c, 1, 1), np.float32),
                 lambda c: np.full((1, c, 1, 1), 1.0 / c, np.float32))
    start = caffemodel.Model([(k, v) for k, v in end.items() if "_1x1" not in k
                              or k.startswith("mask_Concat_64_")])
    start["conv1"] = ("Convolution", [np.ones((2, 1, 3, 3), np.float32)])
    a = caffemodel.write_caffemodel(start, str(tmp_path / "a.caffemodel"))
    b = caffemodel.write_caffemodel(end, str(tmp_path / "b.caffemodel"))
    change = learning.weight_change(a, b, "micro_attention", unknown_start=True)
    assert change == {"attention_64": 0.0, "attention_128": None, "attention_256": None,
                      "attention_512": None}
    with pytest.raises(UserError, match="holds no layer mask_Concat_128_1x1"):
        learning.weight_change(a, b, "micro_attention")


def test_draw_units_puts_the_units_start_in_a_file(tmp_path):

    from microattention.attention import maps
    from microattention.nets import sidecar
    net = prototxt.build(prototxt.render_deploy("micro_attention"))
    net.save(str(tmp_path / "full.caffemodel"))
    model = caffemodel.read_caffemodel(str(tmp_path / "full.caffemodel"))
    for name in [n for n in model if n.startswith("mask_Concat_")]:
        del model[name]                      # a transfer that leaves the units to fillers
    start = caffemodel.write_caffemodel(model, str(tmp_path / "transfer.caffemodel"))
    drawn = learning.draw_units(start, str(tmp_path / "a.caffemodel"), "micro_attention", 3)
    assert drawn == ["mask_Concat_%d_1x1" % c for c in prototxt.STAGES]
    a = caffemodel.read_caffemodel(str(tmp_path / "a.caffemodel"))
    for c in prototxt.STAGES:
        w = a["mask_Concat_%d_1x1" % c][1][0]
        assert w.shape == (c, 3 * c, 1, 1)
        assert w.std() == pytest.approx(np.sqrt(2.0 / (3 * c)), rel=0.1)   # msra, fan-in 3C
    learning.draw_units(start, str(tmp_path / "b.caffemodel"), "micro_attention", 3)
    learning.draw_units(start, str(tmp_path / "c.caffemodel"), "micro_attention", 4)
    same = (tmp_path / "a.caffemodel").read_bytes() == (tmp_path / "b.caffemodel").read_bytes()
    assert same                                                       # same seed, same bytes
    other = learning.weight_change(str(tmp_path / "a.caffemodel"),
                                   str(tmp_path / "c.caffemodel"), "micro_attention")
    assert all(v > 1 for v in other.values())        # two independent draws: about sqrt(2)
    record = sidecar.provenance_path(str(tmp_path / "a.caffemodel"))
    assert "transfer.caffemodel" in open(record).read()
    # the net as the fold starts from it holds exactly the drawn weights
    loaded, _ = maps.load_start_net("micro_attention", str(tmp_path / "a.caffemodel"),
                                    str(tmp_path / "full.caffemodel"), 0)
    assert np.array_equal(loaded.params["mask_Concat_64_1x1"][0].data,
                          a["mask_Concat_64_1x1"][1][0])
