"""tools/validate_loso.py's options: --lr, --epochs and --keep-bn change the
demo's LOSO protocol and choose their own run folder, so that every row of
the demo's LOSO validation table comes from a command (the runs themselves
are tested in tests/test_demo.py)."""
import importlib.util
import json
import pathlib

import pytest

from microattention.demo import config

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("validate_loso",
                                                  str(ROOT / "tools" / "validate_loso.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def demo(tmp_path):
    (tmp_path / "demo.json").write_text(json.dumps({"config": "full"}))
    return tmp_path


def test_the_demo_s_own_settings_by_default(tool, demo):
    _, protocol, run_dir = tool.plan(demo, 1)
    assert protocol.base_lr == config.FULL.loso_changes["base_lr"]
    assert protocol.augmentation.corner_crops is False
    assert run_dir == (demo / "validation-loso" / "e1").resolve()
    # the config's own rate named on the command line is the same run
    assert tool.plan(demo, 1, lr=config.FULL.loso_changes["base_lr"])[2] == run_dir


@pytest.mark.parametrize("lr, keep_bn, epochs, folder", [
    (1e-3, False, 1, "e1-lr0.001"),
    (1e-3, True, 1, "e1-lr0.001-bn-kept"),
    (0.0, False, 1, "e1-lr0"),
    (0.0, True, 3, "e3-lr0-bn-kept"),
])
def test_lr_and_bn_change_the_protocol_and_the_folder(tool, demo, tmp_path, lr, keep_bn,
                                                      epochs, folder):
    _, protocol, run_dir = tool.plan(demo, epochs, recalibrate_bn=not keep_bn,
                                     run_root=tmp_path / "v", lr=lr)
    assert protocol.base_lr == lr
    # nothing else of the demo's LOSO protocol changes
    assert protocol._replace(base_lr=0) == tool.plan(demo, 1)[1]._replace(base_lr=0)
    assert run_dir == (tmp_path / "v" / folder).resolve()


@pytest.mark.parametrize("text", ["-1e-3", "fast", "nan", "inf"])
def test_a_bad_learning_rate_is_refused(tool, demo, capsys, text):
    with pytest.raises(SystemExit) as exit_:
        tool.main(["--demo", str(demo), "--lr=" + text])
    assert exit_.value.code == 2
    assert "is not a learning rate" in capsys.readouterr().err
