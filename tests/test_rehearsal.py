"""The dress rehearsal (issue 26, item 3): the seven databases generated in
their released layouts (`demo-data --rehearsal`: a few subjects each, faces
from the demo's real photographs), taken through `reproduce --scale` end to
end in real Caffe: every table is made and marked SCALED, the commands run
are the commands the plan printed, a second call redoes nothing, and the
full-scale --plan on the same tree prints its time and disk.

To stay within a few minutes on two cores it trains the micro-attention net
only, the first fold of each protocol (--folds 1: the tables say PARTIAL),
one epoch (--scale 0.01), from filler weights (--start-weights: no network
here; the reports say the start is not ImageNet). Runs in the image."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from microattention.nets import prototxt as nets
from microattention.reproduce import estimate, stages, summary

pytest.importorskip("cv2")
pytest.importorskip("menpo")
try:
    nets.import_caffe()
except ImportError:
    pytest.skip("pycaffe not available (run inside the image)", allow_module_level=True)

ROOT = pathlib.Path(__file__).resolve().parents[1]
REPORTS = ("pretrain", "table2", "table4-5", "table6")
PLAN_LINE = "      python3 -m microattention "


def cli(*argv):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "python"), env.get("PYTHONPATH", "")])
    env.pop("GLOG_minloglevel", None)
    return subprocess.run([sys.executable, "-m", "microattention"] + [str(a) for a in argv],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)


def filler_weights(path):
    """A ResNet-10 caffemodel as Caffe's fillers make it (seeded): the start
    weights a machine without the ImageNet download has."""
    caffe = nets.import_caffe()
    caffe.set_random_seed(0)
    nets.build(nets.render_deploy("resnet10", num_output=5), "TEST").save(str(path))
    return path


def printed_commands(stdout):
    """The commands of the plan as printed (before the first stage ran)."""
    head = stdout.split("\n[1/", 1)[0]
    return [l.strip() for l in head.splitlines() if l.startswith(PLAN_LINE)]


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    base = tmp_path_factory.mktemp("rehearsal")
    tree = base / "tree"
    made = cli("demo-data", "--rehearsal", "--out", tree)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    argv = ["reproduce", "--data", tree, "--out", base / "out", "--scale", "0.01",
            "--folds", "1", "--nets", "micro_attention", "--mug-apex", tree / "mug-apex.csv",
            "--start-weights", filler_weights(base / "fillers.caffemodel")]
    result = cli(*argv)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return {"tree": tree, "out": base / "out", "argv": argv, "result": result}


def test_every_table_is_made_and_marked_scaled(rehearsal):
    out = rehearsal["out"]
    text = rehearsal["result"].stdout
    for name in ("casme2", "samm", "smic", "ckplus", "oulu", "jaffe", "mug"):
        assert "  %-7s" % name in text and "present  %s" % (rehearsal["tree"] / name) in text
    for number in (2, 3, 4, 5, 6):
        assert "  Table %d: will be made" % number in text
    for name in REPORTS:
        md = (out / "tables" / name / "report.md").read_text()
        assert "SCALED: trained 1 of the protocol's" in md, name
        assert "NOT the protocol's result" in md and "(SCALED: 1 of" in md, name
        assert "SCALED" in (out / "tables" / name / stages.SCALED_NAME).read_text()
        assert "NOT traced to ImageNet" in md, name        # the filler start is flagged
    for name in ("table2", "table4-5", "table6"):       # --folds 1: partial
        assert "PARTIAL" in (out / "tables" / name / "report.md").read_text(), name
    assert (out / "tables" / "table3" / "summary.md").is_file()
    assert "SCALED" in (out / "tables" / "table3" / stages.SCALED_NAME).read_text()
    table6 = (out / "tables" / "table6" / "report.md").read_text()
    ours = [l for l in table6.splitlines() if l.startswith("| Residual Network with "
                                                          "Micro-Attention, this run")][0]
    assert "not run" not in ours           # SAMM, CASME II and SMIC columns all filled
    made = (out / "reproduce" / summary.SUMMARY_NAME).read_text()
    assert made.splitlines()[2].startswith("> **SCALED")
    for label in ("Table 2 (SCALED)", "Table 3 (SCALED)", "Table 4 and 5 (SCALED)",
                  "Table 6 (SCALED)"):
        assert "| %s |" % label in made


def test_the_commands_run_are_the_commands_the_plan_printed(rehearsal):
    printed = printed_commands(rehearsal["result"].stdout)
    ran = stages.logged_commands(str(rehearsal["out"]))
    assert ran == printed and len(ran) > 15
    assert (rehearsal["out"] / "reproduce" / summary.PLAN_TEXT).read_text().count(
        PLAN_LINE) == len(printed)


def test_a_second_call_redoes_nothing(rehearsal):
    before = stages.logged_commands(str(rehearsal["out"]))
    again = cli(*rehearsal["argv"])
    assert again.returncode == 0, again.stderr[-2000:]
    assert stages.logged_commands(str(rehearsal["out"])) == before
    assert again.stdout.count("finished before") == len(before) + len(before)
    # once in the plan ("finished before: skipped"), once when its turn came


def test_the_full_scale_plan_prints_time_and_disk(rehearsal, tmp_path):
    out = tmp_path / "full"
    # the caffe time measured by the rehearsal on this machine, not measured twice
    (out / "reproduce").mkdir(parents=True)
    shutil.copy(str(rehearsal["out"] / "reproduce" / estimate.CACHE_NAME),
                str(out / "reproduce" / estimate.CACHE_NAME))
    result = cli("reproduce", "--data", rehearsal["tree"], "--out", out, "--plan")
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    assert "SCALED" not in text and "disk: about" in text and "time: about" in text
    commands = printed_commands(text)
    assert not [c for c in commands if "--epochs" in c or "train-fold" in c]
    assert len([c for c in commands if " run --protocol " in c]) == 1 + 15
    assert "weights fetch" in text and "resnet10_cvgj_gray.caffemodel" in text
    assert not (out / "index").exists()           # --plan runs nothing
