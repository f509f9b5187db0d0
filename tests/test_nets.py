"""The three committed nets: sizes (Table 3), wiring of the micro-attention unit
against numpy, training behaviour, and that stock `caffe` loads and trains them.
Runs inside the image (pycaffe, the caffe binary, python3-lmdb)."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from microattention.nets import prototxt  # noqa: E402

try:
    # quiet pycaffe import that does not leave GLOG_minloglevel set for other tests
    caffe = prototxt.import_caffe()
except ImportError:
    pytest.skip("pycaffe not available (run inside the image)", allow_module_level=True)

ROOT = prototxt.project_root()
CAFFE_BIN = shutil.which("caffe")


def build_deploy(name, **kw):
    param = prototxt.render_deploy(name, **kw)
    return prototxt.build(param, "TEST"), param


# ---------------------------------------------------------------- Table 3 sizes

@pytest.mark.parametrize("name,expected", [("resnet10", 4904339),
                                           ("micro_attention", 5949779)])
def test_stored_value_counts_exact(name, expected):
    net, param = build_deploy(name)
    stored, learnable = prototxt.count_values(net, param)
    assert stored == expected


def _bn_statistics(name):
    """Values of the BatchNorm statistics (mean, variance: C each, plus the
    scale factor) by hand from the architecture: data_bn (1 channel), conv1_bn,
    per stage the pre-activation bn1 (input channels, stages after the first)
    and bn2, the attention bn1 of the complex unit, last_bn."""
    channels = [1, 64]
    for c in prototxt.STAGES:
        channels += ([c // 2] if c != 64 else []) + [c]
        if name == "complex_attention":
            channels.append(c)
    channels.append(512)
    return sum(2 * c + 1 for c in channels)


@pytest.mark.parametrize("name", prototxt.NETS)
def test_learnable_value_counts_exact(name):
    """Learnable = stored less the BatchNorm statistics and the constant 1/C
    averaging convolutions of the micro-attention units (lr_mult 0)."""
    net, param = build_deploy(name)
    stored, learnable = prototxt.count_values(net, param)
    frozen_avg = sum(prototxt.STAGES) if name == "micro_attention" else 0
    assert learnable == stored - _bn_statistics(name) - frozen_avg
    # the same from the blobs Caffe built, by layer type and name
    by_blobs = sum(b.data.size for n, blobs in net.params.items()
                   if net.layer_dict[n].type != "BatchNorm" and not n.endswith("_1x1_one")
                   for b in blobs)
    assert learnable == by_blobs


def test_learnable_counts_follow_lr_mult():
    """A layer given lr_mult 0 stops counting as learnable."""
    param = prototxt.render_deploy("resnet10")
    net = prototxt.build(param, "TEST")
    _, learnable = prototxt.count_values(net, param)
    conv = prototxt.find_layer(param, "layer_512_1_conv2")
    conv.param[0].lr_mult = 0
    assert prototxt.count_values(net, param)[1] == learnable - 512 * 512 * 3 * 3


def test_complex_attention_about_11_2_million():
    net, param = build_deploy("complex_attention")
    stored, _ = prototxt.count_values(net, param)
    assert abs(stored - 11.2e6) / 11.2e6 < 0.01, stored


def test_attention_adds_exactly_the_unit_parameters():
    base, bp = build_deploy("resnet10")
    micro, mp = build_deploy("micro_attention")
    extra = prototxt.count_values(micro, mp)[0] - prototxt.count_values(base, bp)[0]
    # 1x1 3C->C (no bias) + constant 1x1 C->1 per stage
    assert extra == sum(3 * c * c + c for c in prototxt.STAGES)
    for c in prototxt.STAGES:
        assert micro.params["mask_Concat_%d_1x1" % c][0].data.shape == (c, 3 * c, 1, 1)
        assert micro.params["mask_Concat_%d_1x1_one" % c][0].data.shape == (1, c, 1, 1)
        assert len(micro.params["mask_Concat_%d_1x1" % c]) == 1
        assert len(micro.params["mask_Concat_%d_1x1_one" % c]) == 1


def test_blob_shapes_and_ceil_pooling():
    net, _ = build_deploy("micro_attention")
    assert net.blobs["data"].data.shape == (1, 1, 224, 224)
    assert net.blobs["conv1"].data.shape == (1, 64, 112, 112)
    assert net.blobs["conv1_pool"].data.shape == (1, 64, 56, 56)
    for c, s in zip(prototxt.STAGES, (56, 28, 14, 7)):
        assert net.blobs["mask_Concat_%d" % c].data.shape == (1, 3 * c, s, s)
        assert net.blobs["mask_Concat_%d_1x1_one" % c].data.shape == (1, 1, s, s)
        assert net.blobs["layer_%d_1_sum2" % c].data.shape == (1, c, s, s)
    assert net.blobs[prototxt.CLASSIFIER].data.shape == (1, 5)


def test_render_changes_class_count_and_batch():
    net, _ = build_deploy("micro_attention", num_output=3, batch=2)
    assert net.blobs[prototxt.CLASSIFIER].data.shape == (2, 3)
    p = prototxt.render_train_val("resnet10", num_output=3, train_source="/x/tr",
                              test_source="/x/te", train_batch=7, test_batch=3)
    data = [l for l in p.layer if l.type == "Data"]
    assert [(l.data_param.source, l.data_param.batch_size) for l in data] == \
        [("/x/tr", 7), ("/x/te", 3)]
    assert data[0].transform_param.crop_size == 224
    assert not data[1].transform_param.HasField("crop_size")
    assert prototxt.find_layer(p, prototxt.CLASSIFIER).inner_product_param.num_output == 3


@pytest.mark.parametrize("name,fname", [(n, f) for n, f, _, _ in prototxt.committed_train_vals()])
def test_deploy_and_train_val_agree_layer_for_layer(name, fname):
    dep = prototxt.body_layers(prototxt.load(name, "deploy"))
    tv = prototxt.body_layers(prototxt.load(os.path.join(ROOT, "prototxt", name, fname)))
    assert [l.name for l in dep] == [l.name for l in tv]
    for a, b in zip(dep, tv):
        assert a == b, "layer %s differs between deploy and train_val" % a.name
    assert len(dep) > 40


def _data_layers(param):
    out = {}
    for layer in param.layer:
        if layer.type == "Data":
            phase = "TRAIN" if layer.include[0].phase == caffe.TRAIN else "TEST"
            out[phase] = (layer.data_param.source, layer.data_param.batch_size)
    return out


def test_committed_train_vals_hold_the_protocol_batch_sizes():
    """Each protocol's committed net has its batch sizes; train_val.prototxt of
    every net has those of the fine-tuning default; sources are relative."""
    from microattention import protocols
    for name, p in protocols.PROTOCOLS.items():
        path = os.path.join(ROOT, prototxt.train_val_relpath(name))
        param = prototxt.load(path)
        assert param.name == p.net
        assert _data_layers(param) == {"TRAIN": ("workspace/lmdb/train", p.batch),
                                       "TEST": ("workspace/lmdb/test", p.test_batch)}, name
    assert prototxt.train_val_relpath("pretrain") == "prototxt/resnet10/train_val_pretrain.prototxt"
    assert prototxt.train_val_relpath("cde") == "prototxt/micro_attention/train_val_cde.prototxt"
    assert prototxt.train_val_relpath("hde") == "prototxt/micro_attention/train_val.prototxt"
    loso = protocols.PROTOCOLS["loso"]
    for name in prototxt.NETS:
        assert _data_layers(prototxt.load(name, "train_val")) == {
            "TRAIN": (prototxt.DEFAULT_TRAIN_SOURCE, loso.batch),
            "TEST": (prototxt.DEFAULT_TEST_SOURCE, loso.test_batch)}
    assert (prototxt.DEFAULT_TRAIN_SOURCE, prototxt.DEFAULT_TEST_SOURCE) == \
        ("workspace/lmdb/train", "workspace/lmdb/test")
    files = sorted(os.path.join(n, f) for n in prototxt.NETS
                   for f in os.listdir(os.path.join(ROOT, "prototxt", n)))
    assert files == sorted([os.path.join(n, "deploy.prototxt") for n in prototxt.NETS] +
                           [os.path.join(n, f) for n, f, _, _ in prototxt.committed_train_vals()])


def test_committed_prototxt_match_generator():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_prototxt.py"), "--check"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert r.returncode == 0, r.stdout


def test_layer_names_of_backbone_and_unit():
    names = [l.name for l in prototxt.load("micro_attention", "deploy").layer]
    for n in ["data_bn", "data_scale", "conv1", "conv1_bn", "conv1_scale", "conv1_relu",
              "conv1_pool", "layer_64_1_conv1", "layer_64_1_conv2", "layer_512_1_conv_expand",
              "last_bn", "last_scale", "last_relu", "global_pool", prototxt.CLASSIFIER]:
        assert n in names
    for c in prototxt.STAGES:
        for n in ["mask_Concat_%d", "mask_Concat_%d_1x1", "mask_Concat_%d_1x1_one",
                  "mask_Concat_%d_1x1_one_sig", "mask_Concat_%d_1x1_more",
                  "layer_%d_1_sum_multip", "layer_%d_1_sum2"]:
            assert n % c in names
    base = [l.name for l in prototxt.load("resnet10", "deploy").layer]
    assert set(base) <= set(names)


# ------------------------------------------------- micro-attention against numpy

def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_micro_attention_unit_matches_numpy():
    rng = np.random.RandomState(0)
    net, _ = build_deploy("micro_attention", batch=2)
    prototxt.fill_random(net, rng, keep=["mask_Concat_%d_1x1_one" % c for c in prototxt.STAGES])
    net.blobs["data"].data[...] = rng.normal(0, 1, net.blobs["data"].data.shape)
    # Stop before last_bn, which works in place on layer_512_1_sum2.
    net.forward(end="layer_512_1_sum2")
    for c in prototxt.STAGES:
        one = net.params["mask_Concat_%d_1x1_one" % c][0].data
        assert np.all(one == np.float32(1.0 / c))
        p = "layer_%d_1_" % c
        shortcut = net.blobs["conv1_pool" if c == 64 else p + "conv_expand"].data.astype(np.float64)
        c1 = net.blobs[p + "conv1"].data.astype(np.float64)      # after BN/Scale/ReLU (in place)
        c2 = net.blobs[p + "conv2"].data.astype(np.float64)
        assert c1.min() >= 0.0
        t = shortcut + c2
        np.testing.assert_allclose(net.blobs[p + "sum"].data, t, rtol=1e-4, atol=1e-4)
        w = net.params["mask_Concat_%d_1x1" % c][0].data.reshape(c, 3 * c).astype(np.float64)
        cat = np.concatenate([shortcut, c1, c2], axis=1)
        emb = np.einsum("oi,nihw->nohw", w, cat)
        m = _sigmoid(emb.mean(axis=1, keepdims=True))
        # the mask must not be saturated, or the test would prove little
        assert 0.05 < np.median(m) < 0.95 and m.std() > 1e-3
        expected = t * (1.0 + m)
        got = net.blobs[p + "sum2"].data
        scale = np.abs(expected).max()
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)
        # and the unit is not an identity: the mask changes the output
        assert np.abs(got - t).max() > 1e-2 * scale


# ------------------------------------------------------------------ training

def _solver(tmp_path, name, batch, base_lr=0.01):
    net_path = str(tmp_path / ("%s_timing.prototxt" % name))
    prototxt.write_prototxt(prototxt.render_timing(name, num_output=5, batch=batch), net_path)
    solver_path = str(tmp_path / "solver.prototxt")
    with open(solver_path, "w") as f:
        f.write('net: "%s"\nbase_lr: %g\nlr_policy: "fixed"\nmomentum: 0.9\n'
                'weight_decay: 0.0005\nmax_iter: 1000\ndisplay: 0\nsnapshot: 0\n'
                'snapshot_after_train: false\nsolver_mode: CPU\nrandom_seed: 1\n'
                % (net_path, base_lr))
    solver = caffe.SGDSolver(solver_path)
    rng = np.random.RandomState(1)
    solver.net.blobs["data"].data[...] = rng.uniform(0, 255, solver.net.blobs["data"].data.shape)
    solver.net.blobs["label"].data[...] = np.arange(batch) % 5
    return solver


def test_constant_average_conv_frozen_and_attention_conv_learns(tmp_path):
    solver = _solver(tmp_path, "micro_attention", batch=2)
    net = solver.net
    before = {n: [b.data.copy() for b in net.params[n]] for n in net.params}
    solver.step(1)
    for c in prototxt.STAGES:
        one = "mask_Concat_%d_1x1_one" % c
        assert np.array_equal(net.params[one][0].data, before[one][0])
        assert np.all(net.params[one][0].data == np.float32(1.0 / c))
        emb = "mask_Concat_%d_1x1" % c
        assert np.abs(net.params[emb][0].data - before[emb][0]).max() > 0
    # BatchNorm statistics move by running averages, not by the solver; the
    # learned layers of the backbone do change.
    assert np.abs(net.params["conv1"][0].data - before["conv1"][0]).max() > 0


def test_sgd_steps_lower_the_loss(tmp_path):
    solver = _solver(tmp_path, "micro_attention", batch=4)
    first = float(solver.net.forward()["loss"])
    solver.step(6)
    last = float(solver.net.forward()["loss"])
    assert np.isfinite(first) and np.isfinite(last)
    assert last < first, (first, last)


# ------------------------------------------------------- stock caffe binary

def _write_lmdb(path, n, size, seed):
    import lmdb
    from caffe.proto import caffe_pb2
    rng = np.random.RandomState(seed)
    env = lmdb.open(str(path), map_size=1 << 26)
    with env.begin(write=True) as txn:
        for i in range(n):
            d = caffe_pb2.Datum(channels=1, height=size, width=size, label=i % 5,
                                data=rng.randint(0, 256, (1, size, size)).astype(np.uint8).tobytes())
            txn.put(("%08d" % i).encode(), d.SerializeToString())
    env.close()


@pytest.fixture(scope="module")
def tiny_lmdb(tmp_path_factory):
    pytest.importorskip("lmdb")
    d = tmp_path_factory.mktemp("lmdb")
    _write_lmdb(d / "train", 4, 240, 0)
    _write_lmdb(d / "test", 2, 224, 1)
    return d


@pytest.mark.skipif(CAFFE_BIN is None, reason="caffe binary not on PATH")
@pytest.mark.parametrize("name", prototxt.NETS)
def test_caffe_train_runs_train_val(name, tiny_lmdb, tmp_path):
    tv = prototxt.render_train_val(name, train_source=str(tiny_lmdb / "train"),
                               test_source=str(tiny_lmdb / "test"), train_batch=2, test_batch=1)
    net_path = prototxt.write_prototxt(tv, str(tmp_path / "train_val.prototxt"))
    solver = tmp_path / "solver.prototxt"
    solver.write_text('net: "%s"\nbase_lr: 0.001\nlr_policy: "fixed"\nmomentum: 0.9\n'
                      'max_iter: 2\ntest_iter: 2\ntest_interval: 2\ntest_initialization: false\n'
                      'display: 1\nsnapshot_after_train: false\nsolver_mode: CPU\n' % net_path)
    env = dict(os.environ, GLOG_minloglevel="0")
    r = subprocess.run([CAFFE_BIN, "train", "-solver", str(solver)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "Optimization Done" in r.stdout
    assert "Test net output #0: accuracy" in r.stdout


@pytest.mark.skipif(CAFFE_BIN is None, reason="caffe binary not on PATH")
@pytest.mark.parametrize("name", prototxt.NETS)
def test_caffe_time_loads_deploy(name):
    r = subprocess.run([CAFFE_BIN, "time", "-model", prototxt.prototxt_path(name, "deploy"),
                        "-iterations", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, env=dict(os.environ, GLOG_minloglevel="0"),
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "Average Forward-Backward" in r.stdout


# ------------------------------------------------------------------ absurd sizes

def test_check_sizes_refuses_what_caffe_would_abort_on():
    from microattention.errors import UserError
    need = prototxt.check_sizes("micro_attention", 5, 10, 224, available=10 ** 13)
    # the training blobs of one batch of 10 at 224: more than 100 MB, less than 10 GB
    assert 1e8 < need < 1e10
    # twice the batch: about twice the activations
    assert 1.8 < prototxt.check_sizes("micro_attention", 5, 20, 224, available=10 ** 13) / need < 2.05
    with pytest.raises(UserError, match="would need a blob of .* more than Caffe can hold"):
        prototxt.check_sizes("resnet10", 5, 1, 100000, options={"size": "--size"})
    with pytest.raises(UserError, match="num_output 5000000"):
        prototxt.check_sizes("resnet10", 5000000, 1, 224)
    with pytest.raises(UserError, match=r"--batch 10, num_output 5: .* more than the 0\.0 GB"):
        prototxt.check_sizes("resnet10", 5, 10, 224, options={"batch": "--batch"}, available=10 ** 6)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(UserError, match="must be a whole number"):
            prototxt.check_sizes("resnet10", bad, 1, 224)
    with pytest.raises(UserError, match="size 16: must be at least 32"):
        prototxt.check_sizes("resnet10", 5, 1, 16)
