"""`python3 -m microattention weights`: ImageNet-to-gray surgery, transfer by
layer name, and the checksum-verified fetch. Runs inside the image."""
import hashlib
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from microattention import cli  # noqa: E402
from microattention.nets import caffemodel, fetch, prototxt, sidecar, surgery
from microattention.errors import UserError  # noqa: E402

try:
    # quiet pycaffe import that does not leave GLOG_minloglevel set for other tests
    caffe = prototxt.import_caffe()
except ImportError:
    pytest.skip("pycaffe not available (run inside the image)", allow_module_level=True)


def _cvjena_like(rng, path):
    """A random 3-channel BGR ResNet10_cvgj-shaped model with the cvjena
    1000-way classifier `score`, saved to path."""
    param = prototxt.render_deploy("resnet10", num_output=1000, channels=3)
    for layer in param.layer:
        if layer.name == prototxt.CLASSIFIER:
            layer.name = "score"
            layer.top[:] = ["score"]
        elif layer.type == "Softmax":
            layer.bottom[:] = ["score"]
    net = prototxt.build(param, "TEST")
    prototxt.fill_random(net, rng, data_mean=110.0, data_std=60.0)
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
    assert prototxt.CLASSIFIER in text.split("initialised fresh")[1].split("\n")[0]

    gray_param = prototxt.render_deploy("resnet10", batch=2)
    net1 = prototxt.build(gray_param, "TEST", weights=str(out))
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
    # the border is where the fold is not exact (documented in surgery.to_gray)
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
    model = caffemodel.Model()
    model.eps = {"data_bn": 1e-5}
    m, v = np.array([90., 120., 140.]), np.array([900., 2500., 3600.])
    model["data_bn"] = ("BatchNorm", [f32(m * 2), f32(v * 2), f32([2.0])])
    g, h = np.array([1.1, 0.7, 1.3]), np.array([0.2, -0.4, 0.05])
    model["data_scale"] = ("Scale", [f32(g), f32(h)])
    w, b = rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    model["conv1"] = ("Convolution", [f32(w), f32(b)])
    gray = surgery.to_gray(model)
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
    param = prototxt.render_deploy("resnet10", num_output=num_output)
    net = prototxt.build(param, "TEST")
    prototxt.fill_random(net, rng)
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
    for c in prototxt.STAGES:
        assert "mask_Concat_%d_1x1," % c in fresh_line + ","
        assert "mask_Concat_%d_1x1_one" % c in fresh_line
    copied_line = [l for l in text.splitlines() if l.startswith("copied")][0]
    assert "(%d layers" % len(base.params) in copied_line
    model = caffemodel.read_caffemodel(str(out))
    assert set(model) == set(base.params)
    micro = prototxt.build(prototxt.render_deploy("micro_attention"), "TEST", weights=str(out))
    for name in base.params:
        for a, b in zip(micro.params[name], base.params[name]):
            np.testing.assert_array_equal(a.data, b.data)
    for c in prototxt.STAGES:
        assert np.all(micro.params["mask_Concat_%d_1x1_one" % c][0].data == np.float32(1.0 / c))


def test_transfer_class_count_change(tmp_path, capsys):
    rng = np.random.RandomState(6)
    src, out = tmp_path / "base.caffemodel", tmp_path / "smic.caffemodel"
    _baseline_model(rng, src, num_output=5)
    args = ["weights", "transfer", "--from", str(src), "--to", "micro_attention",
            "--num-output", "3", "--out", str(out)]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert prototxt.CLASSIFIER in err and "--reinit-classifier" in err
    assert not out.exists()
    assert cli.main(args + ["--reinit-classifier"]) == 0
    assert prototxt.CLASSIFIER not in caffemodel.read_caffemodel(str(out))
    net = prototxt.build(prototxt.render_deploy("micro_attention", num_output=3), "TEST", weights=str(out))
    assert net.blobs[prototxt.CLASSIFIER].data.shape == (1, 3)


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
    out = tmp_path / "w" / fetch.RESNET10_FILE
    for url in ("file://" + str(bogus), str(bogus)):
        assert cli.main(["weights", "fetch", "--url", url, "--out", str(out)]) == 1
        assert "sha256 mismatch" in capsys.readouterr().err
        assert not out.exists()
        assert not os.path.exists(str(out) + ".part")


def test_fetch_script_refuses_mismatch(tmp_path):
    bogus = tmp_path / "bogus.caffemodel"
    bogus.write_bytes(b"not the cvjena model")
    script = os.path.join(prototxt.project_root(), "weights", "fetch_resnet10_cvgj.sh")
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
    fetch.fetch("file://" + str(good), str(out), sha256=digest)
    assert out.read_bytes() == good.read_bytes()
    fetch.fetch("file://" + str(good), str(out), sha256=digest)
    assert "already present" in capsys.readouterr().out
    # a corrupted existing file is replaced only by a verified download
    out.write_bytes(b"corrupt")
    with pytest.raises(UserError):
        fetch.fetch("file://" + str(tmp_path / "missing.bin"), str(out), sha256=digest)
    assert fetch.RESNET10_SHA256 == \
        "7291cda37d486d442f05f80784d11e1b53d923a6da512038fee5308158b359e7"


# ----------------------------------------------------------------- bad input
# Each kind: exit 1, a message naming the file/option/value, no output file.


@pytest.fixture(scope="module")
def full_model(tmp_path_factory):
    """A complete resnet10 caffemodel as Caffe saves it (made once, never written to)."""
    path = tmp_path_factory.mktemp("full") / "resnet10_full.caffemodel"
    n = prototxt.build(prototxt.render_deploy("resnet10"), "TEST")
    prototxt.fill_random(n, np.random.RandomState(11))
    n.save(str(path))
    return path


@pytest.fixture
def _full(full_model, tmp_path):
    """A private copy of full_model (for tests that give it as an output too)."""
    import shutil
    return pathlib.Path(shutil.copy(str(full_model), str(tmp_path / "resnet10_full.caffemodel")))


def _cut_at_layer(src, dst, keep):
    """The first bytes of a caffemodel up to the end of layer `keep` - 1:
    a file cut at a layer boundary, which still parses."""
    pb = prototxt.pb()
    full = pb.NetParameter()
    data = src.read_bytes()
    full.ParseFromString(data)
    prefix = pb.NetParameter()
    prefix.CopyFrom(full)
    del prefix.layer[keep:]
    cut = len(prefix.SerializeToString())
    assert data[:cut] == prefix.SerializeToString()    # a true prefix of the file
    dst.write_bytes(data[:cut])
    return [l.name for l in full.layer[keep:] if len(l.blobs)]


def _run(capsys, argv):
    code = cli.main(argv)
    return code, capsys.readouterr().err


def _png_bytes():
    import struct
    import zlib
    raw = b"".join(b"\x00" + bytes(range(16)) for _ in range(16))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _bad_source(kind, tmp_path, full_model):
    """(path given as --from, words the message must contain)."""
    p = tmp_path / ("src_" + kind)
    if kind == "missing":
        return p, ["No such file"]
    if kind == "folder":
        p.mkdir()
        return p, ["Is a directory"]
    if kind == "empty":
        p.write_bytes(b"")
        return p, ["is empty"]
    if kind == "text":
        p.write_text(open(prototxt.prototxt_path("resnet10")).read())
        return p, ["not a caffemodel"]
    if kind == "png":
        p.write_bytes(_png_bytes())
        return p, ["not a caffemodel"]
    if kind == "solverstate":
        pb = prototxt.pb()
        state = pb.SolverState(iter=5, learned_net="snap_iter_5.caffemodel")
        state.history.add().data.extend([0.5] * 10)
        p.write_bytes(state.SerializeToString())
        return p, ["not a caffemodel"]
    if kind == "v1_layers":
        pb = prototxt.pb()
        old = pb.NetParameter(name="old")
        layer = old.layers.add(name="conv1", type=pb.V1LayerParameter.CONVOLUTION)
        layer.blobs.add().data.extend([0.5] * 10)
        p.write_bytes(old.SerializeToString())
        return p, ["V1 'layers' format", "upgrade_net_proto_binary"]
    if kind == "cut_mid_layer":
        data = full_model.read_bytes()
        p.write_bytes(data[:len(data) // 2])
        return p, ["not a caffemodel", "truncated"]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing", "folder", "empty", "text", "png", "solverstate",
                                  "v1_layers", "cut_mid_layer"])
def test_transfer_bad_source_file(tmp_path, capsys, kind, full_model):
    src, words = _bad_source(kind, tmp_path, full_model)
    out = tmp_path / "new" / "out.caffemodel"
    code, err = _run(capsys, ["weights", "transfer", "--from", str(src), "--out", str(out)])
    assert code == 1
    assert str(src) in err and all(w in err for w in words), err
    assert "Traceback" not in err
    assert not (tmp_path / "new").exists()


def test_transfer_refuses_file_cut_at_layer_boundary(tmp_path, capsys, full_model):
    """The known case: a caffemodel cut between two layers parses, and used to
    give exit 0 with the missing layers started from fillers."""
    full = full_model
    cut = tmp_path / "cut.caffemodel"
    missing = _cut_at_layer(full, cut, keep=30)
    assert len(missing) > 5 and prototxt.CLASSIFIER in missing
    out = tmp_path / "micro.caffemodel"
    code, err = _run(capsys, ["weights", "transfer", "--from", str(cut), "--to", "micro_attention",
                              "--out", str(out)])
    assert code == 1
    assert "%s lacks %d layer(s)" % (cut, len(missing)) in err
    assert "(resnet10) has and the target needs: %s." % ", ".join(missing) in err
    assert not out.exists()
    # --reinit-classifier does not excuse the other missing layers
    code, err = _run(capsys, ["weights", "transfer", "--from", str(cut), "--to", "micro_attention",
                              "--reinit-classifier", "--out", str(out)])
    assert code == 1 and "lacks %d layer(s)" % (len(missing) - 1) in err
    assert not out.exists()
    # the whole file transfers
    assert cli.main(["weights", "transfer", "--from", str(full), "--to", "micro_attention",
                     "--out", str(out)]) == 0


def test_transfer_missing_classifier_hint(tmp_path, capsys, full_model):
    """A source without the classifier (e.g. the imagenet-to-gray output):
    named, with the option that accepts it."""
    pb = prototxt.pb()
    param = pb.NetParameter()
    param.ParseFromString(full_model.read_bytes())
    keep = [l for l in param.layer if l.name != prototxt.CLASSIFIER]
    del param.layer[:]
    param.layer.extend(keep)
    src = tmp_path / "nocls.caffemodel"
    src.write_bytes(param.SerializeToString())
    out = tmp_path / "out.caffemodel"
    code, err = _run(capsys, ["weights", "transfer", "--from", str(src), "--out", str(out)])
    assert code == 1
    assert "needs: %s." % prototxt.CLASSIFIER in err and "--reinit-classifier" in err
    assert not out.exists()
    assert cli.main(["weights", "transfer", "--from", str(src), "--reinit-classifier",
                     "--out", str(out)]) == 0


def test_imagenet_to_gray_refuses_cut_model(tmp_path, capsys):
    rng = np.random.RandomState(12)
    src = tmp_path / "rgb.caffemodel"
    _cvjena_like(rng, src)
    cut = tmp_path / "rgb_cut.caffemodel"
    missing = _cut_at_layer(src, cut, keep=40)
    missing = [m for m in missing if m != "score"]
    out = tmp_path / "gray.caffemodel"
    code, err = _run(capsys, ["weights", "imagenet-to-gray", "--in", str(cut), "--out", str(out)])
    assert code == 1
    assert "needs: %s." % ", ".join(missing) in err
    assert not out.exists()


def test_imagenet_to_gray_refuses_gray_model(tmp_path, capsys, full_model):
    src = full_model
    out = tmp_path / "gray.caffemodel"
    code, err = _run(capsys, ["weights", "imagenet-to-gray", "--in", str(src), "--out", str(out)])
    assert code == 1 and "expected a 3-channel" in err and "(64, 1, 7, 7)" in err
    assert not out.exists()


def test_transfer_to_train_val_prototxt(tmp_path, capsys, full_model):
    """--to-prototxt train_val.prototxt: its LMDB Data layers are replaced by
    an Input, so Caffe does not try to open the LMDB; the result equals the
    transfer into the committed net."""
    src = full_model
    a, b = tmp_path / "a.caffemodel", tmp_path / "b.caffemodel"
    train_val = prototxt.prototxt_path("micro_attention", "train_val")
    capsys.readouterr()
    assert cli.main(["weights", "transfer", "--from", str(src), "--to-prototxt",
                     train_val, "--out", str(a)]) == 0
    said = capsys.readouterr().out
    # It says the train_val's data layers were replaced, naming the file.
    assert ("--to-prototxt %s is a train_val: its data layer(s) " % train_val) in said, said
    assert "(Data)" in said and "replaced by a deploy Input" in said, said
    assert cli.main(["weights", "transfer", "--from", str(src), "--to", "micro_attention",
                     "--out", str(b)]) == 0
    deploy = prototxt.prototxt_path("micro_attention", "deploy")
    assert cli.main(["weights", "transfer", "--from", str(src), "--to-prototxt",
                     deploy, "--out", str(tmp_path / "c.caffemodel")]) == 0
    assert "is a train_val" not in capsys.readouterr().out
    ma, mb = caffemodel.read_caffemodel(str(a)), caffemodel.read_caffemodel(str(b))
    assert list(ma) == list(mb)
    for name in ma:
        for x, y in zip(ma[name][1], mb[name][1]):
            np.testing.assert_array_equal(x, y)


def _bad_prototxt(kind, tmp_path, full_model):
    p = tmp_path / ("target_%s.prototxt" % kind)
    if kind == "missing":
        return p, ["cannot read it", "No such file"]
    if kind == "syntax":
        p.write_text('name: "x"\nlayer { name: "a" type: "Input" top: "data" \n')
        return p, ["not a valid net prototxt"]
    if kind == "caffemodel":
        p.write_bytes(full_model.read_bytes())
        return p, ["not"]
    if kind == "no_layers":
        p.write_text('name: "empty"\n')
        return p, ["defines no layers"]
    if kind == "unbuildable":
        # valid text, but a bottom nobody produces: Caffe's fatal check, not an abort of ours
        text = open(prototxt.prototxt_path("resnet10")).read().replace(
            'bottom: "conv1_pool"', 'bottom: "no_such_blob"', 1)
        p.write_text(text)
        return p, ["Caffe cannot build this net", "Unknown bottom blob 'no_such_blob'"]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing", "syntax", "caffemodel", "no_layers", "unbuildable"])
def test_transfer_bad_target_prototxt(tmp_path, capsys, kind, full_model):
    src = full_model
    proto, words = _bad_prototxt(kind, tmp_path, full_model)
    out = tmp_path / "out.caffemodel"
    code, err = _run(capsys, ["weights", "transfer", "--from", str(src), "--to-prototxt",
                              str(proto), "--out", str(out)])
    assert code == 1
    assert "--to-prototxt %s" % proto in err and all(w in err for w in words), err
    assert not out.exists()


@pytest.mark.parametrize("kind", ["out_is_folder", "out_is_source", "out_is_prototxt",
                                  "num_output_zero", "num_output_negative", "unwritable"])
def test_transfer_bad_options(tmp_path, capsys, kind, _full, read_only):
    src = _full
    proto = tmp_path / "target.prototxt"
    proto.write_text(open(prototxt.prototxt_path("resnet10")).read())
    out, extra, words = tmp_path / "out.caffemodel", [], []
    if kind == "out_is_folder":
        out.mkdir()
        words = ["--out %s is an existing folder" % out]
    elif kind == "out_is_source":
        out = src
        words = ["--out %s is also the input --from %s" % (src, src)]
    elif kind == "out_is_prototxt":
        out, extra = proto, ["--to-prototxt", str(proto)]
        words = ["--out %s is also the input --to-prototxt %s" % (proto, proto)]
    elif kind.startswith("num_output"):
        n = "0" if kind.endswith("zero") else "-3"
        extra, words = ["--num-output", n], ["--num-output %s: must be at least 1" % n]
    elif kind == "unwritable":
        if os.getuid() == 0:
            pytest.skip("root may write anywhere")
        ro = read_only(tmp_path / "ro")
        out, words = ro / "out.caffemodel", ["cannot write to %s" % ro]
    before = {p: p.stat().st_mtime_ns for p in (src, proto) if p.is_file()}
    code, err = _run(capsys, ["weights", "transfer", "--from", str(src), "--out", str(out)] + extra)
    assert code == 1
    assert all(w in err for w in words), err
    assert {p: p.stat().st_mtime_ns for p in before} == before     # inputs untouched
    if kind not in ("out_is_folder", "out_is_source", "out_is_prototxt"):
        assert not out.exists()


def test_transfer_unknown_net_name(tmp_path, capsys, full_model):
    """argparse names the bad value (its usage errors exit 2)."""
    src = full_model
    out = tmp_path / "out.caffemodel"
    with pytest.raises(SystemExit) as e:
        cli.main(["weights", "transfer", "--from", str(src), "--to", "micro-attention",
                  "--out", str(out)])
    assert e.value.code == 2
    assert "invalid choice: 'micro-attention'" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("kind", ["out_is_folder", "url_is_folder", "url_missing", "url_is_out",
                                  "url_empty"])
def test_fetch_bad_options(tmp_path, capsys, kind):
    good = tmp_path / "good.bin"
    good.write_bytes(b"x" * 100)
    out, url = tmp_path / "w" / "model.caffemodel", str(good)
    if kind == "out_is_folder":
        out.mkdir(parents=True)
        words = ["--out %s is an existing folder" % out]
    elif kind == "url_is_folder":
        url, words = str(tmp_path), ["--url %s is a folder" % tmp_path]
    elif kind == "url_missing":
        url, words = str(tmp_path / "nope.caffemodel"), ["download of file://", "nope.caffemodel",
                                                         "failed"]
    elif kind == "url_is_out":
        out, words = good, ["--out %s is also the input --url %s" % (good, good)]
    else:
        url, words = "", ["--url is empty"]
    code, err = _run(capsys, ["weights", "fetch", "--url", url, "--out", str(out)])
    assert code == 1
    assert all(w in err for w in words), err
    assert not os.path.exists(str(out) + ".part")
    if kind != "url_is_out":
        assert not out.is_file()
    if kind not in ("out_is_folder", "url_is_out"):
        assert not (tmp_path / "w").exists()        # no folder made for nothing
    assert good.read_bytes() == b"x" * 100


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_fetch_interrupted_removes_part(tmp_path, sig):
    """Ctrl-C or SIGTERM during a download: exit 1, a message, no .part left."""
    import http.server
    import signal
    import socketserver
    import threading
    import time

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(10 << 20))
            self.end_headers()
            self.wfile.write(b"\0" * (3 << 20))     # more than one 1 MiB read
            self.wfile.flush()
            time.sleep(20)          # bounded: the test stops the client long before

        def log_message(self, *a):
            pass

    socketserver.ThreadingTCPServer.daemon_threads = True
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = tmp_path / "w" / "model.caffemodel"
    part = str(out) + ".part"
    env = dict(os.environ, PYTHONPATH=os.path.join(prototxt.project_root(), "python"))
    proc = subprocess.Popen([sys.executable, "-m", "microattention", "weights", "fetch",
                             "--url", "http://127.0.0.1:%d/m" % server.server_address[1],
                             "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, env=env)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not (os.path.exists(part)
                                              and os.path.getsize(part) > 0):
            time.sleep(0.05)
        assert os.path.getsize(part) > 0
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.shutdown()
        server.server_close()
    assert proc.returncode == 1, err
    assert "interrupted; the partial file %s was removed" % part in err
    assert "Traceback" not in err
    assert not os.path.exists(part) and not out.exists()


# ------------------------------------------- the prototxt of another net, absurd sizes

def test_transfer_into_the_prototxt_of_another_net_is_refused(tmp_path, capsys, full_model):
    """--to names the net recorded in the provenance; a --to-prototxt of
    another net would be recorded under the wrong name."""
    out = tmp_path / "out.caffemodel"
    proto = prototxt.prototxt_path("resnet10", "deploy")
    code, err = _run(capsys, ["weights", "transfer", "--from", str(full_model), "--to",
                              "micro_attention", "--to-prototxt", proto, "--out", str(out)])
    assert code == 1
    assert "--to-prototxt %s is the prototxt of resnet10, not --to micro_attention" % proto \
        in err, err
    assert not out.exists() and not os.path.exists(sidecar.provenance_path(out))


def test_transfer_into_a_net_of_another_design_under_a_net_name_is_refused(
        tmp_path, capsys, full_model):
    text = open(prototxt.prototxt_path("resnet10")).read()
    proto = tmp_path / "other.prototxt"
    proto.write_text(text.replace('name: "conv1"', 'name: "stem"', 1))
    out = tmp_path / "out.caffemodel"
    code, err = _run(capsys, ["weights", "transfer", "--from", str(full_model), "--to",
                              "resnet10", "--to-prototxt", str(proto), "--out", str(out)])
    assert code == 1
    assert "is a net of another design" in err and "not --to resnet10" in err, err
    assert not out.exists()


def test_transfer_records_the_net_of_its_prototxt(tmp_path, capsys, full_model):
    import json
    out = tmp_path / "out.caffemodel"
    assert cli.main(["weights", "transfer", "--from", str(full_model), "--to-prototxt",
                     prototxt.prototxt_path("resnet10", "train_val"), "--out", str(out)]) == 0
    record = json.load(open(sidecar.provenance_path(out)))
    assert record["settings"]["to"] == "resnet10"


def test_transfer_with_an_absurd_class_count_is_refused_before_caffe(tmp_path, capsys,
                                                                     full_model):
    """Caffe would abort the whole process: "blob size exceeds INT_MAX"."""
    out = tmp_path / "out.caffemodel"
    code, err = _run(capsys, ["weights", "transfer", "--from", str(full_model),
                              "--num-output", "2000000000", "--out", str(out)])
    assert code == 1
    assert "--num-output 2000000000" in err and "more than Caffe can hold" in err, err
    assert not out.exists()
