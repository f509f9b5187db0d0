"""`python3 -m microattention summary` (Table 3): counts and caffe timings,
Markdown and CSV. Timings are produced, never asserted."""
import csv
import os
import shutil

import pytest

from microattention import cli  # noqa: E402
from microattention.nets import caffetime, measure, prototxt

try:
    # quiet pycaffe import that does not leave GLOG_minloglevel set for other tests
    caffe = prototxt.import_caffe()
except ImportError:
    pytest.skip("pycaffe not available (run inside the image)", allow_module_level=True)


@pytest.mark.skipif(shutil.which("caffe") is None, reason="caffe binary not on PATH")
def test_summary_writes_table_and_csv(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["summary", "--iterations", "1", "--batch", "1", "--layers",
                     "--out", str(out)]) == 0
    md = capsys.readouterr().out
    assert "| Residual Network with Micro-Attention | 5,949,779 |" in md
    assert "| Residual Network [17] | 4,904,339 |" in md
    rows = list(csv.DictReader(open(str(out / "summary.csv"))))
    assert [r["stored_values"] for r in rows] == ["4904339", "11175063", "5949779"]
    for r in rows:
        assert float(r["forward_backward_ms"]) > 0
        assert float(r["time_ratio"]) > 0
    assert rows[0]["time_ratio"] == "1.0"
    assert (out / "summary.md").read_text() == md.split("wrote ")[0]
    assert not [p for p in os.listdir(str(out)) if p.startswith(".")]  # no temp files left
    # --layers on real caffe time output: every layer Caffe built, grouped
    layers = list(csv.DictReader(open(str(out / "summary_layers.csv"))))
    args = type("Args", (), {"num_output": 5, "size": 224})()
    for net in prototxt.NETS:
        assert [l["layer"] for l in layers if l["network"] == net] == \
            list(measure.layer_types(net, args))
    assert not [l for l in layers if l["network"] == "resnet10" and l["group"] == "attention"]
    micro_att = [l["layer"] for l in layers
                 if l["network"] == "micro_attention" and l["group"] == "attention"]
    assert len([a for a in micro_att if not a.endswith("_split")]) == 28


def test_summary_without_timing(capsys):
    assert cli.main(["summary", "--no-time", "--nets", "micro_attention", "resnet10"]) == 0
    md = capsys.readouterr().out
    assert "5,949,779" in md and "1.213" in md and "not measured" in md


# ------------------------------------------------- per-layer times and ratios

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "caffe_time")


def _glog(text):
    return "I1128 08:27:36.348959    20 caffe.cpp:400] " + text


def fake_caffe_time(layers, fb_ms):
    """`caffe time` output with known numbers: layers is [(name, fwd, bwd)]."""
    lines = [_glog("*** Benchmark begins ***"), _glog("Average time per layer: ")]
    for name, fwd, bwd in layers:
        lines.append(_glog("%10s\tforward: %s ms." % (name, fwd)))
        lines.append(_glog("%10s\tbackward: %s ms." % (name, bwd)))
    lines += [_glog("Average Forward pass: %s ms." % (fb_ms / 3.0)),
              _glog("Average Backward pass: %s ms." % (fb_ms * 2 / 3.0)),
              _glog("Average Forward-Backward: %s ms." % fb_ms),
              _glog("*** Benchmark ends ***")]
    return "\n".join(lines) + "\n"


# micro-attention: backbone conv1 + loss = 33 ms, attention 3 + 5 + 1 + 2 = 11 ms (share 0.25)
FAKE_MICRO = fake_caffe_time([("conv1", 10, 20), ("mask_Concat_64", 1, 2),
                              ("mask_Concat_64_1x1", 2, 3), ("mask_Concat_64_1x1_more", 0.5, 0.5),
                              ("layer_64_1_sum2", 0.5, 1.5), ("loss", 1, 2)], 300.0)
FAKE_BASE = fake_caffe_time([("conv1", 60, 120), ("loss", 10, 10)], 200.0)


@pytest.fixture
def fake_caffe(tmp_path):
    """A `caffe` that prints FAKE_MICRO for a model with micro-attention
    layers and FAKE_BASE otherwise."""
    (tmp_path / "micro.txt").write_text(FAKE_MICRO)
    (tmp_path / "base.txt").write_text(FAKE_BASE)
    script = tmp_path / "caffe"
    script.write_text(
        "#!/bin/sh\n# fake caffe time: $1=time $2=-model $3=path\n"
        "if grep -q mask_Concat \"$3\"; then cat %s; else cat %s; fi\n"
        % (tmp_path / "micro.txt", tmp_path / "base.txt"))
    script.chmod(0o755)
    return str(script)


def test_ratio_direction_and_attention_share(tmp_path, capsys, fake_caffe):
    """micro-attention / baseline, not the inverse: 300 / 200 ms = 1.5 (the
    paper's 1.1 / 0.95 s = 1.16 is printed beside it)."""
    out = tmp_path / "out"
    assert cli.main(["summary", "--caffe", fake_caffe, "--nets", "resnet10", "micro_attention",
                     "--size", "32", "--layers", "--out", str(out)]) == 0
    md = capsys.readouterr().out
    assert "Micro-attention / ResNet-10 time: 1.500 (300.0 / 200.0 ms); paper 1.1 / 0.95 s = " \
           "1.16." in md
    rows = {r["network"]: r for r in csv.DictReader(open(str(out / "summary.csv")))}
    micro = rows["Residual Network with Micro-Attention"]
    assert float(micro["time_ratio"]) == pytest.approx(1.5)
    assert float(micro["paper_time_ratio"]) == pytest.approx(1.1 / 0.95)
    assert float(rows["Residual Network [17]"]["time_ratio"]) == 1.0
    # attention layers: those ResNet-10 does not have; share of the summed layer times
    assert float(micro["attention_ms"]) == pytest.approx(11.0)
    assert float(micro["attention_share"]) == pytest.approx(0.25)
    assert float(rows["Residual Network [17]"]["attention_share"]) == 0.0
    assert "| Residual Network with Micro-Attention | attention | 4 | 4.00 | 7.00 | 11.00 | 25.0 % |" in md
    assert "| Residual Network with Micro-Attention | backbone | 2 | 11.00 | 22.00 | 33.00 | 75.0 % |" in md
    # by type, from the layers as Caffe builds them
    for line in ("| Residual Network with Micro-Attention | Convolution | 1 | 2.00 | 3.00 | 5.00 | 11.4 % |",
                 "| Residual Network with Micro-Attention | Concat | 1 | 1.00 | 2.00 | 3.00 | 6.8 % |",
                 "| Residual Network with Micro-Attention | Eltwise | 1 | 0.50 | 1.50 | 2.00 | 4.5 % |",
                 "| Residual Network with Micro-Attention | Tile | 1 | 0.50 | 0.50 | 1.00 | 2.3 % |"):
        assert line in md
    layers = list(csv.DictReader(open(str(out / "summary_layers.csv"))))
    assert [(l["network"], l["layer"], l["type"], l["group"]) for l in layers] == [
        ("resnet10", "conv1", "Convolution", "backbone"),
        ("resnet10", "loss", "SoftmaxWithLoss", "backbone"),
        ("micro_attention", "conv1", "Convolution", "backbone"),
        ("micro_attention", "mask_Concat_64", "Concat", "attention"),
        ("micro_attention", "mask_Concat_64_1x1", "Convolution", "attention"),
        ("micro_attention", "mask_Concat_64_1x1_more", "Tile", "attention"),
        ("micro_attention", "layer_64_1_sum2", "Eltwise", "attention"),
        ("micro_attention", "loss", "SoftmaxWithLoss", "backbone")]
    assert float(layers[2]["forward_backward_ms"]) == 30.0
    assert float(layers[2]["share"]) == pytest.approx(30.0 / 44.0)
    assert (out / "summary.md").read_text() == md.split("wrote ")[0]
    assert "BLAS: OpenBLAS kernel " in md and " GFLOP/s." in md


def test_layer_parser_on_real_output():
    """A captured `caffe time` of the two nets (batch 2, 32x32, 2 iterations):
    every layer Caffe built, in order, with its two times."""
    args = type("Args", (), {"num_output": 5, "size": 32})()
    base_types = measure.layer_types("resnet10", args)
    micro_types = measure.layer_types("micro_attention", args)
    texts = {}
    for name, types in (("resnet10", base_types), ("micro_attention", micro_types)):
        texts[name] = open(os.path.join(DATA, name + "_batch2_size32.txt")).read()
        parsed = caffetime.parse_caffe_time(texts[name])
        assert list(parsed["layers"]) == list(types)
        assert all(set(t) == {"forward_ms", "backward_ms"} for t in parsed["layers"].values())
    base = caffetime.parse_caffe_time(texts["resnet10"])
    assert (base["forward_ms"], base["backward_ms"], base["forward_backward_ms"]) == \
        (53.2545, 203.756, 257.0)
    micro = caffetime.parse_caffe_time(texts["micro_attention"])
    assert micro["layers"]["conv1"] == {"forward_ms": 0.141, "backward_ms": 3.8895}
    assert micro["layers"]["classifier-Expressions"]["backward_ms"] == 0.0055
    assert len(base["layers"]) == 55 and len(micro["layers"]) == 98
    rows, groups, by_type = measure.group_layers(micro["layers"], micro_types, set(base_types))
    attention = [r["layer"] for r in rows if r["group"] == "attention"]
    # the 7 layers of each of the 4 units, and the Split layers only they need
    assert len([a for a in attention if not a.endswith("_split")]) == 28
    assert "layer_64_1_conv1_layer_64_1_relu2_0_split" in attention
    assert "conv1_pool_conv1_pool_0_split" not in attention      # the baseline has it too
    assert set(by_type) == {"Concat", "Convolution", "Sigmoid", "Tile", "Eltwise", "Split"}
    assert by_type["Convolution"]["layers"] == 8
    total = sum(t["forward_ms"] + t["backward_ms"] for t in micro["layers"].values())
    att = sum(micro["layers"][a]["forward_ms"] + micro["layers"][a]["backward_ms"]
              for a in attention)
    assert groups["attention"]["share"] == pytest.approx(att / total)
    assert groups["attention"]["share"] + groups["backbone"]["share"] == pytest.approx(1.0)


# ----------------------------------------------------------------- bad input
# Each kind: exit 1, a message naming the option/value/file, no output written.


def _script(tmp_path, body, name="caffe"):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("kind", [
    "batch_zero", "iterations_zero", "repeats_zero", "num_output_zero", "size_small",
    "size_negative", "gpu_negative", "caffe_missing", "caffe_folder", "caffe_not_executable",
    "layers_without_time", "out_is_file", "out_unwritable", "caffe_fails", "caffe_no_averages",
    "caffe_no_layer_times", "caffe_fails_with_status_0", "size_absurd", "num_output_absurd"])
def test_summary_bad_input(tmp_path, capsys, kind, fake_caffe, read_only):
    out = tmp_path / "new" / "out"
    argv = ["summary", "--nets", "resnet10", "micro_attention", "--size", "32",
            "--caffe", fake_caffe]
    extra, words = [], []
    if kind.endswith("_zero"):
        option = "--" + kind[:-5].replace("_", "-")
        extra, words = [option, "0"], ["%s 0: must be at least 1" % option]
    elif kind == "size_small":
        extra, words = ["--size", "16"], ["--size 16: must be at least 32"]
    elif kind == "size_negative":
        extra, words = ["--size", "-224"], ["--size -224: must be at least 32"]
    elif kind == "gpu_negative":
        extra, words = ["--gpu", "-1"], ["--gpu -1"]
    elif kind == "caffe_missing":
        extra, words = ["--caffe", str(tmp_path / "nocaffe")], ["--caffe %s: no such executable"
                                                                 % (tmp_path / "nocaffe")]
    elif kind == "caffe_folder":
        extra, words = ["--caffe", str(tmp_path)], ["--caffe %s: no such executable" % tmp_path]
    elif kind == "caffe_not_executable":
        plain = tmp_path / "plain"
        plain.write_text("#!/bin/sh\n")
        extra, words = ["--caffe", str(plain)], ["--caffe %s: no such executable" % plain]
    elif kind == "layers_without_time":
        extra, words = ["--no-time", "--layers"], ["--layers needs caffe time"]
    elif kind == "out_is_file":
        out = tmp_path / "a_file"
        out.write_text("keep me")
        words = ["--out %s is a file" % out]
    elif kind == "out_unwritable":
        if os.getuid() == 0:
            pytest.skip("root may write anywhere")
        ro = read_only(tmp_path / "ro")
        out = ro / "out"
        words = ["cannot write to %s" % out]
    elif kind == "caffe_fails":
        extra = ["--caffe", _script(tmp_path, "echo 'F1128 net.cpp:1] Check failed: oops' >&2; "
                                              "exit 134", "badcaffe")]
        words = ["caffe time failed on ", "resnet10_time.prototxt (exit 134)", "Check failed: oops"]
    elif kind == "caffe_fails_with_status_0":
        # a wrapper that does not pass caffe's status on: the averages came
        # out, then Caffe aborted; that is no result
        (tmp_path / "died.txt").write_text(
            FAKE_BASE + "F1204 14:12:21.203133    21 net.cpp:9] Check failed: status\n"
            "*** Check failure stack trace: ***\n")
        extra = ["--caffe", _script(tmp_path, "cat %s; exit 0" % (tmp_path / "died.txt"), "c3")]
        words = ["caffe time failed on ", "resnet10_time.prototxt (exit 0): Check failed: status"]
    elif kind == "size_absurd":
        extra, words = ["--size", "100000"], ["--size 100000, --batch 10, --num-output 5",
                                              "more than Caffe can hold"]
    elif kind == "num_output_absurd":
        extra, words = ["--num-output", "2000000000", "--no-time"], [
            "--num-output 2000000000", "more than Caffe can hold"]
    elif kind == "caffe_no_averages":
        extra = ["--caffe", _script(tmp_path, "echo 'I1128 caffe.cpp:1] hello'", "oddcaffe")]
        words = ["could not find 'forward_ms' in the output of", "oddcaffe time on"]
    elif kind == "caffe_no_layer_times":
        text = FAKE_BASE.replace("\tforward:", " forward ").replace("\tbackward:", " backward ")
        (tmp_path / "nolayers.txt").write_text(text)
        extra = ["--caffe", _script(tmp_path, "cat %s" % (tmp_path / "nolayers.txt"), "c2"),
                 "--layers"]
        words = ["printed no per-layer times for resnet10"]
    code = cli.main(argv + extra + ["--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert all(w in err for w in words), err
    assert "Traceback" not in err
    if kind == "out_is_file":
        assert out.read_text() == "keep me"
    else:
        assert not out.exists()
        assert not (tmp_path / "new").exists()


def test_summary_interrupted_writes_nothing(tmp_path):
    """Ctrl-C while caffe time runs: exit 1, a message, no --out folder."""
    import signal
    import subprocess
    import sys
    import time
    mark = tmp_path / "caffe_started"
    slow = _script(tmp_path, "touch %s; exec sleep 30" % mark, "slowcaffe")
    out = tmp_path / "new" / "out"
    env = dict(os.environ, PYTHONPATH=os.path.join(prototxt.project_root(), "python"))
    proc = subprocess.Popen([sys.executable, "-m", "microattention", "summary", "--nets",
                             "resnet10", "--size", "32", "--caffe", slow, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, env=env)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not mark.exists():
            time.sleep(0.05)
        assert mark.exists()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "microattention summary: error: interrupted; nothing was written" in err
    assert "Traceback" not in err
    assert not (tmp_path / "new").exists()
