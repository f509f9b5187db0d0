"""Solvers: every committed and rendered solver agrees with the protocol table
and the paper, the batch sizes reach the nets, the test set is covered exactly
once, NVCaffe gets its flag, snapshots are pruned, and stock `caffe train` runs
solvers/finetune.prototxt as committed from a project root."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from microattention import protocols
from microattention.nets import committed_solvers, prototxt, schedule, solver
from microattention.errors import UserError

ROOT = str(prototxt.project_root())
CAFFE_BIN = shutil.which("caffe")

# Paper 4.1 / 4.2, read independently of the table: (batch, base lr, momentum,
# weight decay or None when not given, lr /10 every N epochs). HDE's decay is
# the project's reading of the garbled "3e2".
PAPER = {
    "pretrain": (50, 0.01, 0.9, None, 20),
    "hde": (10, 1e-4, 0.9, 3e-2, 10),
    "cde": (8, 1e-3, 0.9, 5e-6, 10),
    "loso": (10, 1e-3, 0.9, 5e-4, 10),
}

# Reference set sizes of the committed solvers, by hand from the paper's counts:
# pretrain: 10431 images less the tenth held out (1043) for validation;
# hde: CASME II classes I-V 25/15/99/26/20 resampled to 5 x 99, test SAMM I-V 24+13+20+8+3;
# cde: CASME II + SAMM I-V pooled 49/28/119/34/23 resampled to 5 x 119, x5 corner crops;
# loso (and finetune): CASME II resampled to 5 x 99, x5 corner crops; one subject tested.
REF_TRAIN = {"pretrain": 10431 - 1043, "hde": 5 * 99, "cde": 5 * 119 * 5, "loso": 5 * 99 * 5}
REF_TEST = {"pretrain": 1043, "hde": 24 + 13 + 20 + 8 + 3, "cde": 6, "loso": 7}


def ceil_div(a, b):
    return -(-a // b)


def expected_schedule(protocol, n, t):
    p = protocols.PROTOCOLS[protocol]
    return {"stepsize": ceil_div(n * p.step_epochs, p.batch),
            "max_iter": ceil_div(n * p.total_epochs, p.batch),
            "test_interval": ceil_div(n, p.batch),
            "snapshot": ceil_div(n, p.batch),
            "test_iter": [t // p.test_batch]}


def pb2():
    return pytest.importorskip("caffe.proto.caffe_pb2")


def data_layers(param):
    """{phase: (source, batch)} of a NetParameter's Data layers."""
    out = {}
    for layer in param.layer:
        if layer.type == "Data":
            phase = "TRAIN" if layer.include[0].phase == pb2().TRAIN else "TEST"
            out[phase] = (layer.data_param.source, layer.data_param.batch_size)
    return out


def check_solver(param, protocol, n, t):
    p = protocols.PROTOCOLS[protocol]
    exp = expected_schedule(protocol, n, t)
    got = {"stepsize": param.stepsize, "max_iter": param.max_iter,
           "test_interval": param.test_interval, "snapshot": param.snapshot,
           "test_iter": list(param.test_iter)}
    assert got == exp
    assert param.test_iter[0] * p.test_batch == t          # every test image exactly once
    assert param.test_interval != param.max_iter           # tests during training, per epoch
    assert param.test_interval < param.max_iter
    assert param.base_lr == pytest.approx(p.base_lr)
    assert param.momentum == pytest.approx(p.momentum)
    assert param.weight_decay == pytest.approx(p.weight_decay)
    assert (param.lr_policy, param.gamma) == ("step", pytest.approx(p.gamma))
    assert param.type == p.solver == "SGD"


# ------------------------------------------------------------------ the table

def test_table_holds_the_paper_settings():
    for name, (batch, base_lr, momentum, decay, step) in PAPER.items():
        p = protocols.PROTOCOLS[name]
        assert (p.batch, p.step_epochs) == (batch, step), name
        assert p.base_lr == pytest.approx(base_lr)
        assert p.momentum == pytest.approx(momentum)
        if decay is not None:
            assert p.weight_decay == pytest.approx(decay)
        assert p.gamma == pytest.approx(0.1)
        assert p.test_batch == 1
        assert p.total_epochs == 3 * p.step_epochs


def test_reference_sizes():
    for name in protocols.NAMES:
        assert committed_solvers.reference_train_images(name) == REF_TRAIN[name], name
        assert committed_solvers.REFERENCE[name].test_images == REF_TEST[name], name


# ------------------------------------------------------------------ committed solvers

def test_committed_solvers_match_generator():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_solvers.py"), "--check"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert r.returncode == 0, r.stdout


def test_every_committed_solver_is_generated():
    present = sorted(f[:-len(".prototxt")] for f in os.listdir(os.path.join(ROOT, "solvers"))
                     if f.endswith(".prototxt"))
    assert present == sorted(["pretrain", "hde", "cde", "loso", "finetune"])
    assert sorted(committed_solvers.COMMITTED) == present


@pytest.mark.parametrize("name", ["pretrain", "hde", "cde", "loso", "finetune"])
def test_committed_solver_from_table(name):
    protocol = "loso" if name == "finetune" else name
    p = protocols.PROTOCOLS[protocol]
    param = solver.load(os.path.join(ROOT, "solvers", name + ".prototxt"))
    check_solver(param, protocol, REF_TRAIN[protocol], REF_TEST[protocol])
    # relative paths only, so the file works from a checkout and in the image
    assert not os.path.isabs(param.net) and not os.path.isabs(param.snapshot_prefix)
    # in workspace/ itself, which always exists: `caffe train` stops at start
    # when the prefix's folder is missing
    assert param.snapshot_prefix == "workspace/%s_%s" % (name, p.net)
    assert param.solver_mode == param.CPU
    assert not param.HasField("random_seed") or param.random_seed == 1
    # the net it trains is the protocol's net with the protocol's batch sizes
    net = prototxt.load(os.path.join(ROOT, param.net), "train_val")
    assert net.name == p.net
    assert param.net.startswith("prototxt/%s/train_val" % p.net)
    assert data_layers(net) == {"TRAIN": ("workspace/lmdb/train", p.batch),
                                "TEST": ("workspace/lmdb/test", p.test_batch)}
    body = open(os.path.join(ROOT, "solvers", name + ".prototxt")).read().split("\nnet:")[1]
    assert solver.NVCAFFE_FIELD not in body and "/opt/micro-attention" not in body


def test_finetune_is_loso_on_micro_attention():
    ft = solver.load(os.path.join(ROOT, "solvers", "finetune.prototxt"))
    loso = solver.load(os.path.join(ROOT, "solvers", "loso.prototxt"))
    assert ft.net == "prototxt/micro_attention/train_val.prototxt"
    assert ft.snapshot_prefix == "workspace/finetune_micro_attention"
    ft.snapshot_prefix = loso.snapshot_prefix
    assert ft == loso
    header = open(os.path.join(ROOT, "solvers", "finetune.prototxt")).read().split("\nnet:")[0]
    assert "training: %d images" % REF_TRAIN["loso"] in header
    assert "render\n# their own solver" in header


# ------------------------------------------------------------------ rendered runs

@pytest.mark.parametrize("protocol", protocols.NAMES)
@pytest.mark.parametrize("n,t", [(123, 17), (7, 1), (1000, 250)])
def test_render_fold_net_and_solver(protocol, n, t, tmp_path):
    p = protocols.PROTOCOLS[protocol]
    run = tmp_path / "run"
    solver_path, net_path = solver.render_fold(
        protocol, run / "solver.prototxt", run / "train_val.prototxt", n, t,
        train_source=str(tmp_path / "lmdb_tr"), test_source=str(tmp_path / "lmdb_te"),
        snapshot_prefix=run / "snaps" / "fold3", num_output=3, flavour="bvlc")
    param = solver.load(solver_path)
    check_solver(param, protocol, n, t)
    assert param.net == str(net_path)
    assert param.snapshot_prefix == str(run / "snaps" / "fold3")
    assert (run / "snaps").is_dir()          # caffe train stops without it
    net = prototxt.load(str(net_path), "train_val")
    assert net.name == p.net
    assert data_layers(net) == {"TRAIN": (str(tmp_path / "lmdb_tr"), p.batch),
                                "TEST": (str(tmp_path / "lmdb_te"), p.test_batch)}
    assert prototxt.find_layer(net, prototxt.CLASSIFIER).inner_product_param.num_output == 3
    assert solver.NVCAFFE_FIELD not in solver_path.read_text()


def test_render_fold_other_net(tmp_path):
    _, net_path = solver.render_fold(
        "cde", tmp_path / "s.prototxt", tmp_path / "n.prototxt", 40, 4, "/d/tr", "/d/te",
        tmp_path / "snap", net="complex_attention", flavour="bvlc")
    net = prototxt.load(str(net_path), "train_val")
    assert net.name == "complex_attention"
    assert data_layers(net)["TRAIN"] == ("/d/tr", 8)


def test_test_batch_must_divide_the_test_set(tmp_path, monkeypatch):
    monkeypatch.setitem(protocols.PROTOCOLS, "loso",
                        protocols.PROTOCOLS["loso"]._replace(test_batch=4))
    assert schedule.schedule("loso", 100, 12)["test_iter"] == 3
    with pytest.raises(UserError, match="13 images is not a multiple of its test batch 4"):
        schedule.schedule("loso", 100, 13)
    with pytest.raises(UserError, match="test batch 4"):
        solver.render_fold("loso", tmp_path / "s.prototxt", tmp_path / "n.prototxt", 100, 13,
                           "/d/tr", "/d/te", tmp_path / "snap", flavour="bvlc")
    assert os.listdir(str(tmp_path)) == []
    solver.render_fold("loso", tmp_path / "s.prototxt", tmp_path / "n.prototxt", 100, 12,
                       "/d/tr", "/d/te", tmp_path / "snap", flavour="bvlc")
    assert data_layers(prototxt.load(str(tmp_path / "n.prototxt"), "train_val"))["TEST"][1] == 4
    assert list(solver.load(tmp_path / "s.prototxt").test_iter) == [3]


@pytest.mark.parametrize("bad", [0, -5, 2.5, None, True])
def test_bad_set_sizes_are_user_errors(bad, tmp_path):
    with pytest.raises(UserError):
        schedule.schedule("hde", bad, 10)
    with pytest.raises(UserError):
        schedule.schedule("hde", 10, bad)
    with pytest.raises(UserError):
        solver.render("hde", tmp_path / "s.prototxt", "n", bad, 10, "snap", flavour="bvlc")
    with pytest.raises(UserError):
        solver.render_fold("hde", tmp_path / "s.prototxt", tmp_path / "n.prototxt", 10, bad,
                           "a", "b", tmp_path / "snap", flavour="bvlc")
    with pytest.raises(UserError):
        solver.render_fold("hde", tmp_path / "s.prototxt", tmp_path / "n.prototxt", 10, 10,
                           "a", "b", tmp_path / "snap", num_output=bad, flavour="bvlc")
    assert os.listdir(str(tmp_path)) == []


def test_unknown_protocol_and_net(tmp_path):
    with pytest.raises(UserError, match="unknown protocol 'losso'"):
        schedule.schedule("losso", 10, 1)
    with pytest.raises(UserError, match="unknown net 'resnet50'"):
        solver.render_fold("loso", tmp_path / "s", tmp_path / "n", 10, 1, "a", "b",
                           tmp_path / "p", net="resnet50", flavour="bvlc")


def test_render_fold_refuses_output_over_input(tmp_path):
    lmdb = tmp_path / "lmdb"
    lmdb.mkdir()
    with pytest.raises(UserError):
        solver.render_fold("loso", tmp_path / "s.prototxt", lmdb, 10, 1, str(lmdb), "b",
                           tmp_path / "p", flavour="bvlc")
    assert not (tmp_path / "s.prototxt").exists()


def test_render_sets_named_fields_and_rejects_unknown(tmp_path):
    solver.render("hde", tmp_path / "a.prototxt", "n.prototxt", 495, 68, "snap",
                  weight_decay=3e-3, flavour="bvlc")
    param = solver.load(tmp_path / "a.prototxt")
    assert param.weight_decay == pytest.approx(3e-3)
    assert param.stepsize == 495
    with pytest.raises(schedule.SolverError, match="no field 'wieght_decay'"):
        solver.render("hde", tmp_path / "b.prototxt", "n.prototxt", 495, 68, "snap",
                      wieght_decay=1.0, flavour="bvlc")
    assert not (tmp_path / "b.prototxt").exists()


def test_nvcaffe_gets_old_blob_format(tmp_path, monkeypatch):
    monkeypatch.setenv("MA_CAFFE_FLAVOUR", "nvcaffe")
    solver_path, _ = solver.render_fold("cde", tmp_path / "s.prototxt", tmp_path / "n.prototxt",
                                        40, 4, "/d/tr", "/d/te", tmp_path / "snap")
    assert solver_path.read_text().rstrip().endswith("store_blobs_in_old_format: true")
    text = solver.render("cde", tmp_path / "cde.prototxt", "n", 40, 4, "snap")
    assert text.rstrip().endswith("store_blobs_in_old_format: true")


def test_stock_caffe_is_detected_as_bvlc(monkeypatch):
    monkeypatch.delenv("MA_CAFFE_FLAVOUR", raising=False)
    pb2()
    assert solver.caffe_flavour() == "bvlc"


def test_bad_solver_file_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.prototxt"
    bad.write_text('base_lr: 0.1\nlr_policy: step\n')
    with pytest.raises(schedule.SolverError, match=r"bad\.prototxt.*2"):
        solver.load(bad)


def test_epochs_to_iterations_exact_and_rejects_empty_sets():
    assert schedule.epochs_to_iterations(9388, 50, 20) == 3756   # 3755.2 rounded up
    assert schedule.epochs_to_iterations(495, 10, 10) == 495
    with pytest.raises(schedule.SolverError):
        schedule.epochs_to_iterations(0, 10, 10)


# ------------------------------------------------------------------ snapshots

def _touch(folder, names):
    for n in names:
        (folder / n).write_bytes(b"x")


def test_prune_snapshots_keeps_newest_complete_pairs(tmp_path):
    pairs = [50, 100, 150, 1000]   # 1000 sorts before 150 as text
    _touch(tmp_path, ["fold_iter_%d.%s" % (i, ext) for i in pairs
                      for ext in ("caffemodel", "solverstate")])
    # an older half pair, a newer one being written, and other runs' files
    _touch(tmp_path, ["fold_iter_20.solverstate", "fold_iter_1200.caffemodel",
                      "fold2_iter_10.caffemodel", "fold2_iter_10.solverstate",
                      "xfold_iter_10.caffemodel", "fold_iter_7.caffemodel.h5", "fold.log"])
    prefix = str(tmp_path / "fold")
    assert solver.latest_snapshot(prefix) == str(tmp_path / "fold_iter_1000.solverstate")
    removed = solver.prune_snapshots(prefix, keep=2)
    assert sorted(os.path.basename(r) for r in removed) == sorted(
        ["fold_iter_20.solverstate", "fold_iter_50.caffemodel", "fold_iter_50.solverstate",
         "fold_iter_100.caffemodel", "fold_iter_100.solverstate"])
    assert sorted(os.listdir(str(tmp_path))) == sorted(
        ["fold_iter_150.caffemodel", "fold_iter_150.solverstate", "fold_iter_1000.caffemodel",
         "fold_iter_1000.solverstate", "fold_iter_1200.caffemodel",
         "fold2_iter_10.caffemodel", "fold2_iter_10.solverstate", "xfold_iter_10.caffemodel",
         "fold_iter_7.caffemodel.h5", "fold.log"])
    assert solver.prune_snapshots(prefix, keep=2) == []
    solver.prune_snapshots(prefix, keep=1)
    assert sorted(solver.snapshots(prefix)) == [1000, 1200]


def test_prune_snapshots_edge_cases(tmp_path):
    assert solver.prune_snapshots(str(tmp_path / "missing" / "fold")) == []
    _touch(tmp_path, ["f_iter_5.caffemodel"])          # no complete pair: nothing to resume
    assert solver.prune_snapshots(str(tmp_path / "f")) == []
    assert solver.latest_snapshot(str(tmp_path / "f")) is None
    for keep in (0, -1, 1.5, None):
        with pytest.raises(UserError):
            solver.prune_snapshots(str(tmp_path / "f"), keep=keep)


# ------------------------------------------------------- stock caffe, as committed

def _write_lmdb(path, n, size, seed):
    import lmdb
    rng = np.random.RandomState(seed)
    env = lmdb.open(str(path), map_size=1 << 27)
    with env.begin(write=True) as txn:
        for i in range(n):
            d = pb2().Datum(channels=1, height=size, width=size, label=i % 5,
                            data=rng.randint(0, 256, (1, size, size)).astype(np.uint8).tobytes())
            txn.put(("%08d" % i).encode(), d.SerializeToString())
    env.close()


def _lowered(text, **values):
    """The committed solver text with only the named integer fields changed."""
    lines = text.split("\n")
    for name, value in values.items():
        idx = [i for i, l in enumerate(lines) if l.startswith(name + ":")]
        assert len(idx) == 1, name
        lines[idx[0]] = "%s: %d" % (name, value)
    return "\n".join(lines)


def _caffe(args, cwd):
    return subprocess.run([CAFFE_BIN] + args if args[0] == "train" else args, cwd=str(cwd),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=600,
                          env=dict(os.environ, GLOG_minloglevel="0", GLOG_logtostderr="1"))


@pytest.mark.skipif(CAFFE_BIN is None, reason="caffe binary not on PATH")
def test_caffe_trains_committed_finetune_solver_from_project_root(tmp_path):
    """A temporary project root: the real prototxt/, solvers/finetune.prototxt
    as committed with only max_iter, test_iter, test_interval and snapshot
    lowered, small LMDBs at the default relative paths, weights W."""
    pytest.importorskip("lmdb")
    real_ws = os.path.join(ROOT, "workspace")
    before = sorted(os.listdir(real_ws)) if os.path.isdir(real_ws) else None
    root = tmp_path / "project"
    (root / "solvers").mkdir(parents=True)
    os.symlink(os.path.join(ROOT, "prototxt"), str(root / "prototxt"))
    committed = open(os.path.join(ROOT, "solvers", "finetune.prototxt")).read()
    (root / "solvers" / "finetune.prototxt").write_text(
        _lowered(committed, max_iter=2, test_iter=2, test_interval=2, snapshot=1))
    (root / "workspace" / "lmdb").mkdir(parents=True)
    _write_lmdb(root / "workspace" / "lmdb" / "train", 12, 240, 0)
    _write_lmdb(root / "workspace" / "lmdb" / "test", 2, 224, 1)
    (root / "workspace" / "weights").mkdir()
    init = prototxt.build(prototxt.render_deploy("micro_attention"), "TEST")
    init.save(str(root / "workspace" / "weights" / "init.caffemodel"))

    # plain caffe, with the documented command and nothing made before it
    r = _caffe(["train", "-solver", "solvers/finetune.prototxt",
                "-weights", "workspace/weights/init.caffemodel"], root)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "Finetuning from workspace/weights/init.caffemodel" in r.stdout
    assert "Optimization Done" in r.stdout
    assert "Iteration 2, Testing net (#0)" in r.stdout
    assert "Test net output #0: accuracy" in r.stdout
    # the LOSO batch sizes reached the nets: TRAIN 10 crops of 224, TEST 1
    batch, test_batch = protocols.PROTOCOLS["loso"].batch, protocols.PROTOCOLS["loso"].test_batch
    assert "Top shape: %d 1 224 224" % batch in r.stdout
    assert "Top shape: %d 1 224 224" % test_batch in r.stdout
    prefix = str(root / "workspace" / "finetune_micro_attention")
    assert sorted(solver.snapshots(prefix)) == [1, 2]

    # pruning keeps what resuming needs
    removed = solver.prune_snapshots(prefix, keep=1)
    assert sorted(os.path.basename(p) for p in removed) == [
        "finetune_micro_attention_iter_1.caffemodel",
        "finetune_micro_attention_iter_1.solverstate"]

    # the driver runs stock caffe with its options passed on: resuming from
    # the kept pair restores iteration 2 of 2 and tests
    r = _caffe([os.path.join(ROOT, "solvers", "train.sh"), "solvers/finetune.prototxt",
                "-snapshot", "workspace/finetune_micro_attention_iter_2.solverstate"], root)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "Resuming from workspace/finetune_micro_attention_iter_2.solverstate" in r.stdout
    assert "Iteration 2, Testing net (#0)" in r.stdout
    assert sorted(solver.snapshots(prefix)) == [2]

    after = sorted(os.listdir(real_ws)) if os.path.isdir(real_ws) else None
    assert after == before   # nothing written into the real workspace/


ENTRYPOINT = "/opt/micro-attention/tools/entrypoint"


def _entrypoint(args, cwd, home):
    """The image's entrypoint, as `docker run IMAGE ARGS` starts it, from the
    working folder `cwd` (the mounted /workspace) with the project at `home`."""
    return subprocess.run([ENTRYPOINT] + args, cwd=str(cwd), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=600,
                          env=dict(os.environ, MA_HOME=str(home), GLOG_minloglevel="0",
                                   GLOG_logtostderr="1"))


@pytest.mark.skipif(CAFFE_BIN is None or not os.path.isfile(ENTRYPOINT),
                    reason="the image's entrypoint and caffe")
def test_stock_caffe_train_runs_as_written_from_the_workspace(tmp_path):
    """`docker run ... IMAGE caffe train -solver solvers/finetune.prototxt -weights W`:
    the working folder is the workspace, which has no solvers/; the
    entrypoint runs caffe from the project root (whose workspace/ is the
    workspace), with W, a file of the working folder, made absolute."""
    pytest.importorskip("lmdb")
    workspace = tmp_path / "workspace"
    root = tmp_path / "project"
    (root / "solvers").mkdir(parents=True)
    os.symlink(os.path.join(ROOT, "prototxt"), str(root / "prototxt"))
    os.symlink(str(workspace), str(root / "workspace"))
    committed = open(os.path.join(ROOT, "solvers", "finetune.prototxt")).read()
    (root / "solvers" / "finetune.prototxt").write_text(
        _lowered(committed, max_iter=1, test_iter=2, test_interval=1, snapshot=1))
    (workspace / "lmdb").mkdir(parents=True)
    _write_lmdb(workspace / "lmdb" / "train", 12, 240, 0)
    _write_lmdb(workspace / "lmdb" / "test", 2, 224, 1)
    init = prototxt.build(prototxt.render_deploy("micro_attention"), "TEST")
    init.save(str(workspace / "w.caffemodel"))

    r = _entrypoint(["caffe", "train", "-solver", "solvers/finetune.prototxt",
                     "-weights", "w.caffemodel"], workspace, root)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "Finetuning from %s" % (workspace / "w.caffemodel") in r.stdout
    assert "Optimization Done" in r.stdout
    assert (workspace / "finetune_micro_attention_iter_1.caffemodel").is_file()

    # control: without the entrypoint, the same command from the workspace fails
    r = _caffe(["train", "-solver", "solvers/finetune.prototxt", "-weights", "w.caffemodel"],
               workspace)
    assert r.returncode != 0


@pytest.mark.skipif(not os.path.isfile(ENTRYPOINT), reason="the image's entrypoint")
def test_project_scripts_run_as_written_from_the_workspace(tmp_path):
    """`docker run ... IMAGE tools/train_fold.sh ...` from the workspace finds the
    project's script; a script of that name in the working folder comes first."""
    r = _entrypoint(["tools/train_fold.sh"], tmp_path, ROOT)
    assert r.returncode == 2, r.stdout
    assert "usage: %s/tools/train_fold.sh PROTOCOL FOLD" % ROOT in r.stdout
    (tmp_path / "tools").mkdir()
    mine = tmp_path / "tools" / "train_fold.sh"
    mine.write_text("#!/bin/sh\necho mine \"$@\"\n")
    mine.chmod(0o755)
    r = _entrypoint(["tools/train_fold.sh", "a b"], tmp_path, ROOT)
    assert (r.returncode, r.stdout) == (0, "mine a b\n")


def _readme_commands():
    """The `caffe train` lines the READMEs give for the committed solvers."""
    found = set()
    for readme in ("README.md", "solvers/README.md"):
        for line in open(os.path.join(ROOT, readme)):
            line = line.strip()
            if line.startswith("caffe train -solver solvers/"):
                found.add(line)
    return sorted(found)


def test_readmes_give_the_plain_command_and_no_mkdir():
    assert _readme_commands() == ["caffe train -solver solvers/finetune.prototxt -weights W"]
    # no folder to make before it (the committed solvers' snapshot folder)
    for readme in ("README.md", "solvers/README.md"):
        assert "mkdir -p workspace/" not in open(os.path.join(ROOT, readme)).read(), readme


@pytest.mark.skipif(CAFFE_BIN is None, reason="caffe binary not on PATH")
@pytest.mark.parametrize("name", list(committed_solvers.COMMITTED))
def test_committed_solver_starts_on_an_empty_workspace(name, tmp_path):
    """`caffe train -solver solvers/<name>.prototxt` as committed, from a
    project root whose workspace/ is empty: caffe gets past its snapshot-prefix
    check and builds the training net; it then stops at the missing LMDB,
    which is the user's data, not a folder the solver needs."""
    root = tmp_path / "project"
    root.mkdir()
    for sub in ("prototxt", "solvers"):
        os.symlink(os.path.join(ROOT, sub), str(root / sub))
    (root / "workspace").mkdir()
    r = _caffe(["train", "-solver", "solvers/%s.prototxt" % name], root)
    assert "Cannot write to snapshot prefix" not in r.stdout, r.stdout[-2000:]
    assert "Creating training net from net file: prototxt/" in r.stdout, r.stdout[-2000:]
    assert "workspace/lmdb/train" in r.stdout and "No such file or directory" in r.stdout, \
        r.stdout[-2000:]
    assert os.listdir(str(root / "workspace")) == []   # the write probe is gone again


def _project_root_copy(tmp_path):
    root = tmp_path / "project"
    (root / "solvers").mkdir(parents=True)
    os.symlink(os.path.join(ROOT, "prototxt"), str(root / "prototxt"))
    shutil.copy(os.path.join(ROOT, "solvers", "finetune.prototxt"), str(root / "solvers"))
    return root


def _driver(args, cwd, caffe="/bin/echo"):
    return subprocess.run([os.path.join(ROOT, "solvers", "train.sh")] + args, cwd=str(cwd),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, env=dict(os.environ, CAFFE=caffe))


def test_driver_makes_the_snapshot_folder_and_passes_arguments_on(tmp_path):
    root = _project_root_copy(tmp_path)
    r = _driver(["solvers/finetune.prototxt", "-weights", "w 1.caffemodel", "-gpu", "0"], root)
    assert r.returncode == 0, r.stdout
    assert r.stdout.split("\n")[0] == \
        "train -solver solvers/finetune.prototxt -weights w 1.caffemodel -gpu 0"
    assert os.listdir(str(root / "workspace")) == []    # workspace/ made again, empty


def test_driver_needs_the_project_root_and_a_solver(tmp_path):
    r = _driver([os.path.join(ROOT, "solvers", "finetune.prototxt")], tmp_path)
    assert r.returncode == 1
    assert "run from the project root" in r.stdout
    assert not (tmp_path / "workspace").exists()
    r = _driver(["solvers/nope.prototxt"], _project_root_copy(tmp_path))
    assert r.returncode == 1 and "no solver file solvers/nope.prototxt" in r.stdout
    r = _driver([], tmp_path)
    assert r.returncode == 2 and "usage" in r.stdout


# ------------------------------------------------------------------ variants

def test_variant_changes_only_what_it_names_and_says_so():
    table = protocols.PROTOCOLS["pretrain"]
    v = protocols.variant("pretrain", batch=10, augmentation=protocols.NO_AUGMENTATION)
    assert (v.batch, v.augmentation) == (10, protocols.NO_AUGMENTATION)
    for field in protocols.Protocol._fields:
        if field not in ("batch", "augmentation"):
            assert getattr(v, field) == getattr(table, field), field
    assert protocols.get(v) is v
    assert protocols.changes(v) == {"batch": 10,
                                    "augmentation": protocols.NO_AUGMENTATION._asdict()}
    assert protocols.changes("pretrain") == {}
    assert protocols.changes(protocols.variant("loso", base_lr=1e-3)) == {}  # the table's own
    with pytest.raises(UserError, match="protocol loso has no setting momentum2, name"):
        protocols.variant("loso", momentum2=0.99, name="x")
    with pytest.raises(UserError, match="protocol loso: solver 'RMSProp'; expected one of "
                                        "SGD, Adam"):
        protocols.variant("loso", solver="RMSProp")


def test_variant_reaches_the_rendered_net_and_solver(tmp_path):
    v = protocols.variant("pretrain", batch=10, base_lr=0.02, total_epochs=4, step_epochs=3,
                          solver="Adam")
    solver_path, net_path = solver.render_fold(
        v, tmp_path / "s.prototxt", tmp_path / "n.prototxt", 95, 7, "/d/tr", "/d/te",
        tmp_path / "snap", flavour="bvlc")
    param = solver.load(solver_path)
    assert param.base_lr == pytest.approx(0.02)
    assert param.type == "Adam"
    # ceil(95 x 4 / 10), ceil(95 x 3 / 10), the 7 test images at test batch 1
    assert (param.max_iter, param.stepsize, list(param.test_iter)) == (38, 29, [7])
    net = prototxt.load(str(net_path), "train_val")
    assert data_layers(net)["TRAIN"] == ("/d/tr", 10)
    assert "protocol pretrain (changed: batch, solver, base_lr, step_epochs, total_epochs)" in \
        solver_path.read_text().splitlines()[0]
