"""Solver files: the paper's settings survive rendering; NVCaffe gets its flag."""
import pytest

from microattention import solver

# Paper 3.3 / 4.2: (base lr, momentum, weight decay); HDE's decay is the
# project's reading of the garbled "3e2".
PAPER = {
    "pretrain": (0.01, 0.9, None),
    "hde": (1e-4, 0.9, 3e-2),
    "cde": (1e-3, 0.9, 5e-6),
    "loso": (1e-3, 0.9, 5e-4),
}


@pytest.mark.parametrize("protocol", solver.PROTOCOLS)
def test_committed_solvers_hold_the_paper_settings(protocol):
    param = solver.load(solver.template_path(protocol))
    base_lr, momentum, decay = PAPER[protocol]
    assert param.base_lr == pytest.approx(base_lr)
    assert param.momentum == pytest.approx(momentum)
    if decay is not None:
        assert param.weight_decay == pytest.approx(decay)
    assert (param.lr_policy, param.gamma) == ("step", pytest.approx(0.1))
    assert not param.HasField("solver_mode") or param.solver_mode == param.CPU
    assert param.net.startswith("/opt/micro-attention/prototxt/")


def test_render_converts_epochs_to_iterations(tmp_path):
    out = tmp_path / "loso.prototxt"
    solver.render("loso", out, train_images=495, batch=10, step_epochs=10, total_epochs=30,
                  test_images=7, snapshot_prefix=tmp_path / "snap", flavour="bvlc")
    param = solver.load(out)
    assert param.stepsize == 495      # ceil(495 * 10 / 10)
    assert param.max_iter == 1485     # ceil(495 * 30 / 10)
    assert param.snapshot == 50       # one epoch, ceil(49.5)
    assert list(param.test_iter) == [7]
    assert param.snapshot_prefix == str(tmp_path / "snap")
    assert param.base_lr == pytest.approx(1e-3)  # untouched fields stay
    assert solver.NVCAFFE_FIELD not in out.read_text()


def test_render_sets_named_fields_and_rejects_unknown(tmp_path):
    solver.render("hde", tmp_path / "a.prototxt", weight_decay=3e-3, flavour="bvlc")
    assert solver.load(tmp_path / "a.prototxt").weight_decay == pytest.approx(3e-3)
    with pytest.raises(solver.SolverError, match="no field 'wieght_decay'"):
        solver.render("hde", tmp_path / "b.prototxt", wieght_decay=1.0, flavour="bvlc")
    assert not (tmp_path / "b.prototxt").exists()


def test_nvcaffe_gets_old_blob_format(tmp_path, monkeypatch):
    monkeypatch.setenv("MA_CAFFE_FLAVOUR", "nvcaffe")
    text = solver.render("cde", tmp_path / "cde.prototxt")
    assert text.rstrip().endswith("store_blobs_in_old_format: true")


def test_stock_caffe_is_detected_as_bvlc(monkeypatch):
    monkeypatch.delenv("MA_CAFFE_FLAVOUR", raising=False)
    assert solver.caffe_flavour() == "bvlc"


def test_bad_solver_file_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.prototxt"
    bad.write_text('base_lr: 0.1\nlr_policy: step\n')
    with pytest.raises(solver.SolverError, match=r"bad\.prototxt.*2"):
        solver.load(bad)


def test_epochs_to_iterations_rejects_empty_sets():
    with pytest.raises(solver.SolverError):
        solver.epochs_to_iterations(0, 10, 10)
