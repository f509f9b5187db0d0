"""`python3 -m microattention weights`: ImageNet-to-gray surgery, transfer by
layer name, and the checksum-verified fetch. Runs inside the image."""
import hashlib
import os
import subprocess

import numpy as np
import pytest

from microattention import cli, nets, weights  # noqa: E402
from microattention.errors import UserError  # noqa: E402

try:
    # quiet pycaffe import that does not leave GLOG_minloglevel set for other tests
    caffe = nets.import_caffe()
except ImportError:
    pytest.skip("pycaffe not available (run inside the image)", allow_module_level=True)


def _cvjena_like(rng, path):
    """A random 3-channel BGR ResNet10_cvgj-shaped model with the cvjena
    1000-way classifier `score`, saved to path."""
    param = nets.render_deploy("resnet10", num_output=1000, channels=3)
    for layer in param.layer:
        if layer.name == nets.CLASSIFIER:
            layer.name = "score"
            layer.top[:] = ["score"]
        elif layer.type == "Softmax":
            layer.bottom[:] = ["score"]
    net = nets.build(param, "TEST")
    nets.fill_random(net, rng, data_mean=110.0, data_std=60.0)
    # distinct per-channel statistics, stored as running sums with a factor
    bn = net.params["data_bn"]
    bn[0].data[...] = [100.0, 115.0, 125.0]
    bn[1].data[...] = [55.0 ** 2, 60.0 ** 2, 70.0 ** 2]
    factor = 999.98
    bn[0].data[...] *= factor
    bn[1].data[...] *= factor
    bn[2].data[...] = factor
    net.params["data_scale"][0].data[...] = [0.9, 1.2, 1.05]
    net.params["data_scale"][1].data[...] = [0.3, -0.2, 0.1]
    net.save(str(path))
    return param, net


def test_imagenet_to_gray_exact_away_from_border(tmp_path, capsys):
    rng = np.random.RandomState(3)
    src = tmp_path / "rgb.caffemodel"
    out = tmp_path / "gray.caffemodel"
    param3, net3 = _cvjena_like(rng, src)
    assert cli.main(["weights", "imagenet-to-gray", "--in", str(src), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "score" in text.split("source layers not in the target")[1]
    assert nets.CLASSIFIER in text.split("initialised fresh")[1].split("\n")[0]

    gray_param = nets.render_deploy("resnet10", batch=2)
    net1 = nets.build(gray_param, "TEST", weights=str(out))
    net3.blobs["data"].reshape(2, 3, 224, 224)
    net3.reshape()
    x = rng.uniform(0, 255, (2, 1, 224, 224)).astype(np.float32)
    net1.blobs["data"].data[...] = x
    net3.blobs["data"].data[...] = np.repeat(x, 3, axis=1)
    net1.forward(end="conv1_pool")
    net3.forward(end="conv1_pool")
    # conv1 (7x7/2, pad 3) output i sees input rows 2i-3..2i+3: inside for 2 <= i <= 110.
    a = net1.blobs["conv1"].data      # after the in-place conv1_bn/scale/relu, same in both
    b = net3.blobs["conv1"].data
    inner = (slice(None), slice(None), slice(2, 111), slice(2, 111))
    scale = np.abs(b[inner]).max()
    assert scale > 0
    np.testing.assert_allclose(a[inner], b[inner], rtol=1e-4, atol=1e-5 * scale)
    assert (b[inner] > 0).mean() > 0.2     # the comparison is not all zeros after ReLU
    # conv1_pool (3x3/2 on conv1) output j sees conv1 2j..2j+2: inside for 1 <= j <= 54.
    pin = (slice(None), slice(None), slice(1, 55), slice(1, 55))
    np.testing.assert_allclose(net1.blobs["conv1_pool"].data[pin], net3.blobs["conv1_pool"].data[pin],
                               rtol=1e-4, atol=1e-5 * scale)
    # the border is where the fold is not exact (documented in weights.to_gray)
    assert np.abs(a[:, :, 0, :] - b[:, :, 0, :]).max() > 1e-3 * scale
    # all other backbone layers are copied unchanged
    for name in ("layer_64_1_conv1", "layer_512_1_conv_expand", "last_bn", "conv1_scale"):
        for p1, p3 in zip(net1.params[name], net3.params[name]):
            np.testing.assert_array_equal(p1.data, p3.data)


def test_to_gray_math_on_arrays():
    """The fold itself, on a pre-activation linear view: for any gray x the
    interior conv output matches."""
    rng = np.random.RandomState(0)
    f32 = np.float32
    model = weights.Model()
    model.eps = {"data_bn": 1e-5}
    m, v = np.array([90., 120., 140.]), np.array([900., 2500., 3600.])
    model["data_bn"] = ("BatchNorm", [f32(m * 2), f32(v * 2), f32([2.0])])
    g, h = np.array([1.1, 0.7, 1.3]), np.array([0.2, -0.4, 0.05])
    model["data_scale"] = ("Scale", [f32(g), f32(h)])
    w, b = rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    model["conv1"] = ("Convolution", [f32(w), f32(b)])
    gray = weights.to_gray(model)
    patch = rng.uniform(0, 255, (3, 3))
    z = (g[:, None, None] * (patch[None] - m[:, None, None]) / np.sqrt(v + 1e-5)[:, None, None]
         + h[:, None, None])
    y3 = np.einsum("ocij,cij->o", w, z) + b
    mg, vg, _ = (float(a[0]) for a in gray["data_bn"][1])
    n = (patch - mg) / np.sqrt(vg + 1e-5)
    w1, b1 = gray["conv1"][1]
    y1 = np.einsum("oij,ij->o", w1[:, 0].astype(np.float64), n) + b1
    np.testing.assert_allclose(y1, y3, rtol=1e-5, atol=1e-4)


def _baseline_model(rng, path, num_output=5):
    param = nets.render_deploy("resnet10", num_output=num_output)
    net = nets.build(param, "TEST")
    nets.fill_random(net, rng)
    net.save(str(path))
    return net


def test_transfer_baseline_to_micro_attention(tmp_path, capsys):
    rng = np.random.RandomState(5)
    src, out = tmp_path / "base.caffemodel", tmp_path / "micro.caffemodel"
    base = _baseline_model(rng, src)
    assert cli.main(["weights", "transfer", "--from", str(src), "--to", "micro_attention",
                     "--out", str(out)]) == 0
    text = capsys.readouterr().out
    fresh_line = [l for l in text.splitlines() if l.startswith("initialised fresh")][0]
    for c in nets.STAGES:
        assert "mask_Concat_%d_1x1," % c in fresh_line + ","
        assert "mask_Concat_%d_1x1_one" % c in fresh_line
    copied_line = [l for l in text.splitlines() if l.startswith("copied")][0]
    assert "(%d layers" % len(base.params) in copied_line
    model = weights.read_caffemodel(str(out))
    assert set(model) == set(base.params)
    micro = nets.build(nets.render_deploy("micro_attention"), "TEST", weights=str(out))
    for name in base.params:
        for a, b in zip(micro.params[name], base.params[name]):
            np.testing.assert_array_equal(a.data, b.data)
    for c in nets.STAGES:
        assert np.all(micro.params["mask_Concat_%d_1x1_one" % c][0].data == np.float32(1.0 / c))


def test_transfer_class_count_change(tmp_path, capsys):
    rng = np.random.RandomState(6)
    src, out = tmp_path / "base.caffemodel", tmp_path / "smic.caffemodel"
    _baseline_model(rng, src, num_output=5)
    args = ["weights", "transfer", "--from", str(src), "--to", "micro_attention",
            "--num-output", "3", "--out", str(out)]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert nets.CLASSIFIER in err and "--reinit-classifier" in err
    assert not out.exists()
    assert cli.main(args + ["--reinit-classifier"]) == 0
    assert nets.CLASSIFIER not in weights.read_caffemodel(str(out))
    net = nets.build(nets.render_deploy("micro_attention", num_output=3), "TEST", weights=str(out))
    assert net.blobs[nets.CLASSIFIER].data.shape == (1, 3)


def test_transfer_refuses_shape_mismatch(tmp_path, capsys):
    rng = np.random.RandomState(7)
    src, out = tmp_path / "rgb.caffemodel", tmp_path / "x.caffemodel"
    _cvjena_like(rng, src)       # 3-channel conv1 cannot go into a gray net unconverted
    assert cli.main(["weights", "transfer", "--from", str(src), "--to", "resnet10",
                     "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "conv1:" in err and "(64, 3, 7, 7)" in err and "(64, 1, 7, 7)" in err
    assert not out.exists()


# --------------------------------------------------------------------- fetch

def test_fetch_refuses_checksum_mismatch(tmp_path, capsys):
    bogus = tmp_path / "bogus.caffemodel"
    bogus.write_bytes(os.urandom(4096))
    out = tmp_path / "w" / weights.RESNET10_FILE
    for url in ("file://" + str(bogus), str(bogus)):
        assert cli.main(["weights", "fetch", "--url", url, "--out", str(out)]) == 1
        assert "sha256 mismatch" in capsys.readouterr().err
        assert not out.exists()
        assert not os.path.exists(str(out) + ".part")


def test_fetch_script_refuses_mismatch(tmp_path):
    bogus = tmp_path / "bogus.caffemodel"
    bogus.write_bytes(b"not the cvjena model")
    script = os.path.join(nets.project_root(), "weights", "fetch_resnet10_cvgj.sh")
    out = tmp_path / "dest.caffemodel"
    r = subprocess.run(["sh", script, "--url", "file://" + str(bogus), "--out", str(out)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert r.returncode != 0
    assert "sha256 mismatch" in r.stdout
    assert not out.exists()


def test_fetch_accepts_matching_checksum(tmp_path, capsys):
    good = tmp_path / "good.bin"
    good.write_bytes(os.urandom(10000))
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    out = tmp_path / "dest.bin"
    weights.fetch("file://" + str(good), str(out), sha256=digest)
    assert out.read_bytes() == good.read_bytes()
    weights.fetch("file://" + str(good), str(out), sha256=digest)
    assert "already present" in capsys.readouterr().out
    # a corrupted existing file is replaced only by a verified download
    out.write_bytes(b"corrupt")
    with pytest.raises(UserError):
        weights.fetch("file://" + str(tmp_path / "missing.bin"), str(out), sha256=digest)
    assert weights.RESNET10_SHA256 == \
        "7291cda37d486d442f05f80784d11e1b53d923a6da512038fee5308158b359e7"
