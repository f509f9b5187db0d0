"""`python3 -m microattention summary` (Table 3): counts and caffe timings,
Markdown and CSV. Timings are produced, never asserted."""
import csv
import os
import shutil

import pytest

from microattention import cli, nets  # noqa: E402

try:
    # quiet pycaffe import that does not leave GLOG_minloglevel set for other tests
    caffe = nets.import_caffe()
except ImportError:
    pytest.skip("pycaffe not available (run inside the image)", allow_module_level=True)


@pytest.mark.skipif(shutil.which("caffe") is None, reason="caffe binary not on PATH")
def test_summary_writes_table_and_csv(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["summary", "--iterations", "1", "--batch", "1", "--out", str(out)]) == 0
    md = capsys.readouterr().out
    assert "| ResNet-10 + micro-attention | 5,949,779 |" in md
    assert "| ResNet-10 [17] | 4,904,339 |" in md
    rows = list(csv.DictReader(open(str(out / "summary.csv"))))
    assert [r["stored_values"] for r in rows] == ["4904339", "11175063", "5949779"]
    for r in rows:
        assert float(r["forward_backward_ms"]) > 0
        assert float(r["time_ratio"]) > 0
    assert rows[0]["time_ratio"] == "1.0"
    assert (out / "summary.md").read_text() == md.split("wrote ")[0]
    assert not [p for p in os.listdir(str(out)) if p.startswith(".")]  # no temp files left


def test_summary_without_timing(capsys):
    assert cli.main(["summary", "--no-time", "--nets", "micro_attention", "resnet10"]) == 0
    md = capsys.readouterr().out
    assert "5,949,779" in md and "1.213" in md and "not measured" in md
