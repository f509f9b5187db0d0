"""train-fold and run in real Caffe, at reduced size: a handful of generated
240x240 faces per fold, 2 epochs of 1-3 iterations, the protocols' batch
sizes, randomly initialised weights. Checks that every test sample is
predicted exactly once, that pycaffe's test of the final snapshot agrees with
caffe's own test net, that a killed fold resumes from its last snapshot and
ends with the same bytes as an uninterrupted one, and that running a finished
run again changes no file. Runs in the image."""
import csv
import hashlib
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from microattention.nets import prototxt as nets
from microattention.train import layout
from microattention.train.evaluate import recalibrate_bn
from microattention.train.fold import fold_lock, train_fold
from microattention.train.fold_lmdbs import delete_fold_lmdbs
from microattention.train.settings import settings_differences
from microattention.datasets.common import COLUMNS, sample_id
from microattention.errors import UserError
from microattention.nets.caffemodel import read_caffemodel

cv2 = pytest.importorskip("cv2")
pytest.importorskip("lmdb")
try:
    caffe = nets.import_caffe()
except ImportError:
    pytest.skip("pycaffe not available (run inside the image)", allow_module_level=True)

ROOT = pathlib.Path(__file__).resolve().parents[1]
EPOCHS = 2
# HDE: each database has one sample of each class, so its balanced training
# side is 5 records, one iteration of batch 10 per epoch.
HDE_ROWS = [("casme2", "sub01", "happiness"), ("casme2", "sub01", "surprise"),
            ("casme2", "sub02", "anger"), ("casme2", "sub02", "disgust"),
            ("casme2", "sub02", "sadness"),
            ("samm", "006", "happiness"), ("samm", "006", "surprise"), ("samm", "006", "anger"),
            ("samm", "007", "disgust"), ("samm", "007", "sadness")]
# LOSO: training sides of 10, 20 and 15 records (classes present x largest
# class x 5 corner crops), 1, 2 and 2 iterations of batch 10 per epoch;
# sub03's 15 is no multiple of the batch, so its epochs end inside a batch.
LOSO_ROWS = [("casme2", "sub01", "happiness"), ("casme2", "sub01", "anger"),
             ("casme2", "sub02", "surprise"), ("casme2", "sub03", "happiness")]
LOSO_EPOCH_ITERS = {"casme2_sub01": 1, "casme2_sub02": 2, "casme2_sub03": 2}


def cli_env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "python"), env.get("PYTHONPATH", "")])
    env.pop("GLOG_minloglevel", None)
    # one BLAS thread everywhere: results are bit-identical only at equal thread counts
    env["OPENBLAS_NUM_THREADS"] = "1"
    env.update(extra)
    return env


def cli(*argv, check=True):
    proc = subprocess.run([sys.executable, "-m", "microattention"] + [str(a) for a in argv],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=cli_env(), cwd=str(ROOT))
    if check and proc.returncode != 0:
        raise AssertionError("exit %d\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))
    return proc


def write_data(folder, rows):
    """An index CSV and a faces folder (faces.csv + 240x240 gray crops) for
    rows (dataset, subject, label); one clip and apex frame per row."""
    folder = pathlib.Path(folder)
    (folder / "faces" / "crops").mkdir(parents=True)
    index_rows, faces_rows = [], []
    rng = np.random.RandomState(7)
    for n, (dataset, subject, label) in enumerate(rows):
        row = dict((c, "") for c in COLUMNS)
        row.update(dataset=dataset, subject=subject, clip="clip%d" % n, label=label,
                   frame="1", frame_path="x.png", root=str(folder))
        index_rows.append(row)
        image = (rng.rand(240, 240) * 200 + 20).astype(np.uint8)
        crop = "crops/%03d.png" % n
        cv2.imwrite(str(folder / "faces" / crop), image)
        faces_rows.append({"sample_id": sample_id(row), "crop": crop, "status": "ok"})
    with open(str(folder / "index.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(index_rows)
    with open(str(folder / "faces" / "faces.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["sample_id", "crop", "status"])
        writer.writeheader()
        writer.writerows(faces_rows)
    return folder / "index.csv", folder / "faces", [sample_id(r) for r in index_rows]


def random_weights(path, net, num_output=5):
    model = nets.build(nets.render_deploy(net, num_output=num_output))
    nets.fill_random(model, np.random.RandomState(3), data_mean=110.0, data_std=58.0)
    model.save(str(path))
    return path


def tree_state(folder):
    """{relative path: (mtime_ns, sha256)} of every file under folder."""
    state = {}
    for path in sorted(pathlib.Path(folder).rglob("*")):
        if path.is_file():
            state[str(path.relative_to(folder))] = (
                path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return state


def predictions(path):
    with open(str(path), newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return random_weights(tmp_path_factory.mktemp("w") / "init.caffemodel", "micro_attention")


@pytest.fixture(scope="module")
def hde(tmp_path_factory, weights):
    folder = tmp_path_factory.mktemp("hde")
    index, faces, ids = write_data(folder, HDE_ROWS)
    argv = ["run", "--protocol", "hde", "--index", index, "--faces", faces, "--weights", weights,
            "--run-dir", folder / "runs", "--epochs", EPOCHS, "--jobs", 2]
    first = cli(*argv)
    return dict(folder=folder, index=index, faces=faces, ids=ids, argv=argv, output=first.stdout,
                runs=folder / "runs" / "hde" / "micro_attention")


@pytest.fixture(scope="module")
def loso(tmp_path_factory, weights):
    folder = tmp_path_factory.mktemp("loso")
    index, faces, ids = write_data(folder, LOSO_ROWS)
    argv = ["run", "--protocol", "loso", "--index", index, "--faces", faces, "--weights",
            weights, "--run-dir", folder / "runs", "--epochs", EPOCHS, "--jobs", 1]
    first = cli(*argv)
    return dict(folder=folder, index=index, faces=faces, ids=ids, argv=argv, output=first.stdout,
                runs=folder / "runs" / "loso" / "micro_attention")


def check_fold(fold_dir, test_ids, iters_per_epoch, weights):
    done = json.loads((fold_dir / "done.json").read_text())
    rows = predictions(fold_dir / "predictions.csv")
    # every test sample exactly once
    assert sorted(r["sample_id"] for r in rows) == sorted(test_ids)
    assert len(rows) == len(test_ids)
    scores = np.array([[float(r[k]) for k in r if k.startswith("score_")] for r in rows])
    assert scores.shape[1] == 5
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    assert [int(r["predicted_label"]) for r in rows] == list(scores.argmax(axis=1))
    war = np.mean([r["true_label"] == r["predicted_label"] for r in rows])
    assert done["metrics"]["war"] == pytest.approx(war)
    metrics = json.loads((fold_dir / "metrics.json").read_text())
    # pycaffe on the deploy net agrees with caffe's own test net (TEST transform)
    # on the final snapshot
    assert metrics["caffe_test_net_final"]["accuracy"] == pytest.approx(war, abs=1e-6)
    assert metrics["tested_snapshot"] == "micro_attention_iter_%d.caffemodel" % (
        EPOCHS * iters_per_epoch)
    provenance = json.loads((fold_dir / "provenance.json").read_text())
    assert provenance["settings"]["weights_sha256"] == hashlib.sha256(
        pathlib.Path(weights).read_bytes()).hexdigest()
    schedule = provenance["schedule"]
    assert schedule["iterations_per_epoch"] == iters_per_epoch
    assert schedule["max_iter"] == EPOCHS * iters_per_epoch
    assert provenance["caffe_version"].startswith("caffe version")
    for name in ("train_val.prototxt", "solver.prototxt", "deploy.prototxt"):
        assert provenance["files_sha256"][name] == hashlib.sha256(
            (fold_dir / name).read_bytes()).hexdigest()
    solver = (fold_dir / "solver.prototxt").read_text()
    assert "max_iter: %d" % (EPOCHS * iters_per_epoch) in solver
    assert "test_iter: %d" % len(test_ids) in solver
    tv = (fold_dir / "train_val.prototxt").read_text()
    # the protocol fold's LMDBs, shared by the nets: RUN/<protocol>/lmdb/<fold>/
    home = fold_dir.parents[1] / "lmdb" / fold_dir.name
    assert str(home / "train") in tv and str(home / "test") in tv
    assert not (fold_dir / "lmdb").exists()
    log = (fold_dir / "caffe.log").read_text()
    # one caffe process per epoch: from the weights, then from the snapshot
    first_resume = log.index("Resuming from")
    assert "Finetuning from %s" % weights in log[:first_resume]
    assert "Finetuning from" not in log[first_resume:]
    assert re.findall(r"Resuming from \S+_iter_(\d+)\.solverstate", log) == [
        str(iters_per_epoch * e) for e in range(1, EPOCHS)]
    # after done.json only the final weights stay (final.caffemodel is the same file)
    snaps = sorted(p.name for p in (fold_dir / "snapshots").iterdir())
    assert snaps == ["micro_attention_iter_%d.caffemodel" % (EPOCHS * iters_per_epoch)]
    assert os.path.samefile(str(fold_dir / "snapshots" / snaps[0]),
                            str(fold_dir / layout.FINAL_NAME))
    return rows


def test_hde_two_folds_end_to_end(hde, weights):
    casme = [i for i in hde["ids"] if i.startswith("casme2/")]
    samm = [i for i in hde["ids"] if i.startswith("samm/")]
    check_fold(hde["runs"] / "casme2-to-samm", samm, 1, weights)
    check_fold(hde["runs"] / "samm-to-casme2", casme, 1, weights)
    pooled = predictions(hde["runs"] / "predictions.csv")
    assert sorted(r["sample_id"] for r in pooled) == sorted(hde["ids"])
    result = json.loads((hde["runs"] / "metrics.json").read_text())
    assert result["pooled"]["samples"] == 10
    assert result["pooled"]["war"] == pytest.approx(
        np.mean([r["true_label"] == r["predicted_label"] for r in pooled]))
    assert [f["fold"] for f in result["folds"]] == ["casme2-to-samm", "samm-to-casme2"]
    for fold in ("casme2-to-samm", "samm-to-casme2"):
        assert re.search(r"fold %s \(\d/2\) started" % fold, hde["output"])
        assert re.search(r"fold %s finished in \d+ s: 5 test samples" % fold, hde["output"])


def test_rerunning_a_finished_run_changes_no_file(hde):
    before = tree_state(hde["folder"] / "runs")
    again = cli(*hde["argv"])
    assert "2 fold(s), 2 finished before, 0 to train" in again.stdout
    assert "started" not in again.stdout
    assert tree_state(hde["folder"] / "runs") == before
    # train-fold alone too
    one = cli("train-fold", "--protocol", "hde", "--fold", "casme2-to-samm",
              *hde["argv"][3:-2])
    assert "(already finished)" in one.stdout
    assert tree_state(hde["folder"] / "runs") == before


def test_finished_fold_with_other_settings_is_refused(hde, tmp_path):
    proc = cli("train-fold", "--protocol", "hde", "--fold", "casme2-to-samm",
               *hde["argv"][3:-2], "--seed", "1", check=False)
    assert proc.returncode == 1
    assert "was finished with other settings (seed 0 -> 1)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_loso_three_subjects_end_to_end(loso, weights):
    for n, subject in enumerate(("sub01", "sub02", "sub03")):
        fold = "casme2_" + subject
        test_ids = [i for i in loso["ids"] if i.startswith("casme2/%s/" % subject)]
        check_fold(loso["runs"] / fold, test_ids, LOSO_EPOCH_ITERS[fold], weights)
    pooled = predictions(loso["runs"] / "predictions.csv")
    assert sorted(r["sample_id"] for r in pooled) == sorted(loso["ids"])


def test_bn_recalibration_gathers_the_statistics_anew_and_nothing_else(loso, tmp_path):
    from microattention import lmdbs
    fold = loso["runs"] / "casme2_sub02"          # 20 training records, batch 10
    final = fold / layout.FINAL_NAME
    batches = 2
    out = recalibrate_bn(fold / "train_val.prototxt", final, tmp_path / "a.caffemodel",
                                  batches, seed=7)
    again = recalibrate_bn(fold / "train_val.prototxt", final,
                                    tmp_path / "b.caffemodel", batches, seed=7)
    assert out.read_bytes() == again.read_bytes()               # same seed, same bytes
    before, after = read_caffemodel(final), read_caffemodel(out)
    assert list(before) == list(after)
    net = nets.load(str(fold / "train_val.prototxt"), "train_val")
    bn = [l.name for l in net.layer if l.type == "BatchNorm"]
    assert bn and "data_bn" in bn
    factor = sum(0.999 ** k for k in range(batches))           # Caffe's running weight
    for name, (kind, blobs) in after.items():
        if name in bn:
            assert kind == "BatchNorm"
            assert blobs[2].reshape(-1)[0] == pytest.approx(factor, rel=1e-6), name
        else:                                                  # learned weights untouched
            for old, new in zip(before[name][1], blobs):
                assert np.array_equal(old, new), name
    # data_bn sees the raw pixels: its mean is the pixel mean of the batches
    # read (the first records in key order, random 224 crops of 240)
    images = [image.astype(np.float64) for _, _, image in
              lmdbs.read_records(str(loso["runs"].parent / "lmdb" / fold.name / "train"))
              ][:batches * 10]
    crops = [i[8:232, 8:232].mean() for i in images]
    mean = after["data_bn"][1][0].reshape(-1)[0] / factor
    assert min(crops) - 1 < mean < max(crops) + 1
    assert mean == pytest.approx(np.mean(crops), abs=3.0)
    assert not np.allclose(after["data_bn"][1][0], before["data_bn"][1][0])


def test_killed_fold_resumes_from_its_snapshot_with_the_same_result(loso, weights, tmp_path):
    fold, per_epoch = "casme2_sub03", LOSO_EPOCH_ITERS["casme2_sub03"]
    argv = [str(ROOT / "tools" / "train_fold.sh"), "loso", "sub03", "--index", loso["index"],
            "--faces", loso["faces"], "--weights", weights, "--run-dir", tmp_path,
            "--epochs", EPOCHS]
    fold_dir = tmp_path / "loso" / "micro_attention" / fold
    proc = subprocess.Popen([str(a) for a in argv], env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    progress = fold_dir / "progress.json"
    deadline = time.time() + 120
    try:
        # wait until epoch 1 is recorded, then kill train-fold and caffe mid epoch 2
        while time.time() < deadline and proc.poll() is None:
            if progress.is_file() and json.loads(progress.read_text())["iteration"] == per_epoch:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stdout.read().decode()
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert not (fold_dir / "done.json").exists()
    killed_log = (fold_dir / "caffe.log").read_text()
    resumed = subprocess.run(
        [str(a) for a in argv], env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        universal_newlines=True)
    assert resumed.returncode == 0, resumed.stdout
    log = (fold_dir / "caffe.log").read_text()
    assert log.startswith(killed_log)
    new = log[len(killed_log):]
    assert "Finetuning from" not in new
    assert re.findall(r"Resuming from (\S+)", new) == [
        str(fold_dir / "snapshots" / ("micro_attention_iter_%d.solverstate" % per_epoch))]
    assert "Iteration %d, lr" % per_epoch in new and "Iteration 0, lr" not in new
    # the same predictions and final weights as the uninterrupted run
    reference = loso["runs"] / fold
    assert (fold_dir / "predictions.csv").read_bytes() == \
        (reference / "predictions.csv").read_bytes()
    # and the same final weights (the files differ in the LMDB paths they name)
    final = "snapshots/micro_attention_iter_%d.caffemodel" % (EPOCHS * per_epoch)
    resumed_model = read_caffemodel(str(fold_dir / final))
    reference_model = read_caffemodel(str(reference / final))
    assert list(resumed_model) == list(reference_model)
    for name, (_, blobs) in reference_model.items():
        for a, b in zip(blobs, resumed_model[name][1]):
            assert np.array_equal(a, b), name
    snaps = sorted(p.name for p in (fold_dir / "snapshots").iterdir())
    assert snaps == ["micro_attention_iter_4.caffemodel"]


def test_pretrain_holds_out_a_tenth_and_reports_its_accuracy(tmp_path):
    # 6 clips of happiness and one of each other class: the lmdb stage holds
    # out round(6 / 10) = 1 happiness clip, so 9 training records (one
    # iteration of batch 50) and 1 validation image
    rows = [("ckplus", "S%03d" % n, "happiness") for n in range(6)] + [
        ("ckplus", "S1%02d" % n, label)
        for n, label in enumerate(("surprise", "anger", "disgust", "sadness"))]
    index, faces, ids = write_data(tmp_path, rows)
    init = random_weights(tmp_path / "gray.caffemodel", "resnet10")
    proc = cli("run", "--protocol", "pretrain", "--index", index, "--faces", faces,
               "--weights", init, "--run-dir", tmp_path / "runs", "--epochs", 1)
    fold_dir = tmp_path / "runs" / "pretrain" / "resnet10" / "pretrain"
    rows = predictions(fold_dir / "predictions.csv")
    assert len(rows) == 1 and rows[0]["sample_id"].split("/")[2] in (
        "clip%d" % n for n in range(6))
    home = tmp_path / "runs" / "pretrain" / "lmdb" / "pretrain"
    sidecar = json.loads((home / "test.json").read_text())
    assert sidecar["split"] == "val" and sidecar["count"] == 1
    assert json.loads((home / "train.json").read_text())["count"] == 9
    war = float(rows[0]["true_label"] == rows[0]["predicted_label"])
    assert re.search(r"pre-training validation accuracy %.2f %% on 1 held-out images "
                     r"\(paper: 99\.33 %%\)" % (100 * war), proc.stdout)
    provenance = json.loads((fold_dir / "provenance.json").read_text())
    assert provenance["schedule"]["batch"] == 50 and provenance["schedule"]["max_iter"] == 1
    # the tested snapshot under the name the next stage of the chain uses
    assert (fold_dir / "final.caffemodel").read_bytes() == \
        (fold_dir / "snapshots" / "resnet10_iter_1.caffemodel").read_bytes()


def test_transfer_chain_stages_record_their_inputs(tmp_path):
    src = random_weights(tmp_path / "pretrained.caffemodel", "resnet10")
    out = tmp_path / "micro.caffemodel"
    cli("weights", "transfer", "--from", src, "--to", "micro_attention", "--out", out)
    record = json.loads((tmp_path / "micro.caffemodel.json").read_text())
    assert record["stage"] == "transfer"
    assert record["inputs"]["from"]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert record["output_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert record["settings"] == {"to": "micro_attention", "num_output": 5,
                                  "reinit_classifier": False}
    assert "mask_Concat_64_1x1" in record["layers"]["from_fillers"]
    assert "conv1" in record["layers"]["copied"]


def test_bad_fold_and_inputs_fail_clearly(loso, weights, tmp_path):
    base = ["--index", loso["index"], "--faces", loso["faces"], "--weights", weights,
            "--run-dir", tmp_path]
    proc = cli("train-fold", "--protocol", "loso", "--fold", "sub09", *base, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "--fold sub09: no such fold of protocol loso" in proc.stderr
    assert "casme2_sub01, casme2_sub02, casme2_sub03" in proc.stderr
    proc = cli("train-fold", "--protocol", "hde", "--fold", "sub01", *base, check=False)
    assert proc.returncode == 1 and "--protocol hde needs an index pooling" in proc.stderr
    proc = cli("run", "--protocol", "loso", "--index", loso["index"], "--faces",
               loso["faces"], "--weights", tmp_path / "missing.caffemodel", "--run-dir",
               tmp_path, check=False)
    assert proc.returncode == 1 and "missing.caffemodel: no such file" in proc.stderr
    proc = cli("run", "--protocol", "loso", *base, "--jobs", 0, check=False)
    assert proc.returncode == 1 and "--jobs 0: must be at least 1" in proc.stderr
    assert not any(tmp_path.iterdir())
    with pytest.raises(UserError, match="--epochs 0"):
        train_fold(loso["index"], loso["faces"], "loso", "sub01", weights,
                            run_dir=tmp_path, epochs=0)


def test_settings_comparison_sees_keys_on_either_side():
    plain = {"protocol": "hde", "seed": 0}
    variant = dict(plain, protocol_changes={"solver": "Adam"},
                   bn_recalibration="one epoch of training batches")
    assert settings_differences(variant, plain) == [
        'protocol_changes {"solver":"Adam"} -> not set',
        "bn_recalibration one epoch of training batches -> not set"]
    assert settings_differences(plain, variant) == [
        'protocol_changes not set -> {"solver":"Adam"}',
        "bn_recalibration not set -> one epoch of training batches"]
    assert settings_differences(plain, dict(plain)) == []
    assert settings_differences(dict(plain, fold="a"), dict(plain, fold="b"),
                                         ignore=("fold",)) == []


def test_a_variant_fold_is_neither_skipped_nor_resumed_by_a_plain_run(tmp_path, monkeypatch):
    """A fold trained with Adam and BatchNorm recalibration (as the demo
    trains), then the plain command on the same folder: refused, with the
    settings that differ, and nothing in the folder changes."""
    from microattention import protocols
    index, faces, ids = write_data(tmp_path / "data", HDE_ROWS)
    init = random_weights(tmp_path / "init.caffemodel", "micro_attention")
    monkeypatch.setenv("MA_GIT_COMMIT", "a" * 40)
    monkeypatch.setenv("MA_IMAGE_ID", "sha256:" + "b" * 64)
    monkeypatch.delenv("MA_IMAGE", raising=False)        # compose and in-image set it
    monkeypatch.delenv("MA_IMAGE_DIGEST", raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    run_dir = tmp_path / "runs"
    adam = protocols.variant("hde", solver="Adam")
    done = train_fold(index, faces, adam, "casme2-to-samm", init, run_dir=run_dir,
                               epochs=1, log=lambda text: None, recalibrate_bn=True)
    assert done["skipped"] is False
    fold_dir = run_dir / "hde" / "micro_attention" / "casme2-to-samm"
    assert 'type: "Adam"' in (fold_dir / "solver.prototxt").read_text()
    # train-fold's provenance: where it ran and where its weights came from
    prov = json.loads((fold_dir / "provenance.json").read_text())
    assert prov["git_commit"] == "a" * 40
    assert prov["image"] == "MA_IMAGE_ID=sha256:" + "b" * 64
    assert prov["caffe_version"].startswith("caffe version")
    assert "kernel" in prov["blas"] and "OPENBLAS_NUM_THREADS=1" in prov["blas"]
    import socket
    assert prov["host"] == socket.gethostname()
    assert prov["device"].startswith("CPU: ")
    assert prov["protocol_folds"] == ["casme2-to-samm", "samm-to-casme2"]
    assert prov["lmdb"]["test"]["family"] == "micro"     # export reads it (LMDBs may go)
    assert prov["initial_weights"]["imagenet"] is False
    assert prov["initial_weights"]["chain"] == [
        "init.caffemodel (sha256 %s...): no record of where it came from"
        % hashlib.sha256(init.read_bytes()).hexdigest()[:12]]
    why = ('protocol_changes {"solver":"Adam"} -> not set; '
           "bn_recalibration one epoch of training batches -> not set")
    before = tree_state(fold_dir)
    # finished: the plain command does not take it as its own
    with pytest.raises(UserError) as caught:
        train_fold(index, faces, "hde", "casme2-to-samm", init, run_dir=run_dir,
                            epochs=1, log=lambda text: None)
    assert "was finished with other settings (%s)" % why in str(caught.value)
    proc = cli("run", "--protocol", "hde", "--index", index, "--faces", faces, "--weights", init,
               "--run-dir", run_dir, "--epochs", 1, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "was finished with other settings (%s)" % why in proc.stderr
    assert tree_state(fold_dir) == before
    # unfinished (its snapshots there): the plain command does not resume it
    (fold_dir / "done.json").unlink()
    before = tree_state(fold_dir)
    with pytest.raises(UserError) as caught:
        train_fold(index, faces, "hde", "casme2-to-samm", init, run_dir=run_dir,
                            epochs=1, log=lambda text: None)
    assert "holds an unfinished run with other settings (%s)" % why in str(caught.value)
    assert tree_state(fold_dir) == before


# ---------------------------------------------------------------- disk and locks

def test_two_nets_on_one_fold_build_its_lmdbs_once(loso, tmp_path):
    home = loso["runs"].parent / "lmdb" / "casme2_sub01"
    before = {side: os.stat(str(home / side / "data.mdb")) for side in ("train", "test")}
    sums = {side: hashlib.sha256((home / side / "data.mdb").read_bytes()).hexdigest()
            for side in ("train", "test")}
    init = random_weights(tmp_path / "resnet10.caffemodel", "resnet10")
    proc = cli("train-fold", "--protocol", "loso", "--fold", "sub01", "--net", "resnet10",
               "--index", loso["index"], "--faces", loso["faces"], "--weights", init,
               "--run-dir", loso["runs"].parents[1], "--epochs", 1, "--keep-snapshots")
    assert proc.stdout.count("reused %s" % home) == 2, proc.stdout
    for side in ("train", "test"):     # the same files, untouched
        after = os.stat(str(home / side / "data.mdb"))
        assert (after.st_ino, after.st_mtime_ns) == (before[side].st_ino,
                                                      before[side].st_mtime_ns)
        assert hashlib.sha256((home / side / "data.mdb").read_bytes()).hexdigest() == sums[side]
    fold = loso["runs"].parent / "resnet10" / "casme2_sub01"
    assert str(home / "train") in (fold / "train_val.prototxt").read_text()
    assert sorted(p.name for p in loso["runs"].parent.iterdir()) == [
        "lmdb", "micro_attention", "resnet10"]
    # --keep-snapshots: the pair of its one epoch stays, solverstate included
    assert sorted(p.name for p in (fold / "snapshots").iterdir()) == [
        "resnet10_iter_1.caffemodel", "resnet10_iter_1.solverstate"]


def test_delete_lmdbs_waits_for_no_reader_and_leaves_only_the_locks(tmp_path):
    from microattention import locks
    home = tmp_path / "loso" / "lmdb" / "casme2_sub01"
    for side in ("train", "test"):
        (home / side).mkdir(parents=True)
        (home / side / "data.mdb").write_bytes(b"x" * 100)
        (home / (side + ".json")).write_text("{}")
        (home / ("." + side + ".lock")).write_text("")
    said = []
    with locks.FileLock(home / ".lock", "a reader") as reader:
        assert reader.acquire(exclusive=False)
        assert delete_fold_lmdbs(home, said.append) is False
        assert (home / "train" / "data.mdb").exists()
    assert "another net is reading them" in said[-1]
    assert delete_fold_lmdbs(home, said.append) is True
    assert sorted(p.name for p in home.iterdir()) == [".lock"]


def test_run_refuses_with_too_little_free_space_and_names_the_folder(loso, tmp_path):
    from microattention.train import runs
    init = random_weights(tmp_path / "init.caffemodel", "micro_attention")
    with pytest.raises(UserError) as refused:
        runs.run_protocol(loso["index"], loso["faces"], "loso", init, run_dir=tmp_path / "r",
                          epochs=1, free_space=lambda path: 10 ** 6)
    text = str(refused.value)
    assert "not enough free space in %s" % tmp_path in text
    # 3 folds of 10, 20, 15 training records of 61,440 B, 4 test records of 53,248 B
    lmdb = (10 + 20 + 15) * 61440 + 4 * 53248
    model = init.stat().st_size
    snapshots = 3 * model + 1 * 3 * 2 * model
    from microattention.train.disk import human
    assert "needs about %s there (LMDBs %s, snapshots and weights %s) and 1.0 MB are free" % (
        human(lmdb + snapshots), human(lmdb), human(snapshots)) in text
    assert not (tmp_path / "r" / "loso" / "micro_attention" / "casme2_sub01").exists()


@pytest.mark.parametrize("code", ["ENOSYS", "EOPNOTSUPP"])
def test_lock_says_when_the_filesystem_has_no_flock(tmp_path, monkeypatch, code):
    import errno
    import fcntl

    def no_flock(handle, mode):
        raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)))
    monkeypatch.setattr(fcntl, "flock", no_flock)
    monkeypatch.delenv("MA_NO_FLOCK", raising=False)
    with pytest.raises(UserError) as refused:
        with fold_lock(tmp_path):
            pass
    text = str(refused.value)
    assert "does not support flock (%s)" % code in text and str(tmp_path) in text
    assert "being trained by another process" not in text
    assert "-o flock" in text and "MA_NO_FLOCK=1" in text
    monkeypatch.setenv("MA_NO_FLOCK", "1")     # the way out it names
    with fold_lock(tmp_path):
        pass


def test_a_held_fold_lock_is_named_as_such(tmp_path):
    with fold_lock(tmp_path):
        proc = subprocess.run(
            [sys.executable, "-c", "from microattention.train import fold\n"
             "with fold.fold_lock(%r): pass" % str(tmp_path)],
            env=cli_env(), stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode != 0
    assert "is being trained by another process" in proc.stderr


# ------------------------------------------------------- weights of another class count

def _smic_index(path, subjects=("s1", "s2")):
    with open(str(path), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "subject", "clip", "frame", "label"])
        for s in subjects:
            for k, label in enumerate(("positive", "negative", "surprise")):
                writer.writerow(["smic", s, "c%d" % k, "1", label])
    return path


def test_weights_of_another_class_count_are_refused_before_caffe(tmp_path, capsys):
    """SMIC has 3 classes: 5-class weights (a transfer's record says so, or a
    pre-training fold's final snapshot) stop `run` with the transfer to make,
    before any fold starts; weights whose records say nothing are left to Caffe."""
    from microattention import cli
    from microattention.train import options
    index = _smic_index(tmp_path / "smic.csv")
    (tmp_path / "faces").mkdir()
    transferred = tmp_path / "macro.caffemodel"
    transferred.write_bytes(b"weights")
    (tmp_path / "macro.caffemodel.json").write_text(json.dumps({"settings": {"num_output": 5}}))
    code = cli.main(["run", "--protocol", "loso", "--index", str(index), "--faces",
                     str(tmp_path / "faces"), "--weights", str(transferred),
                     "--run-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "has a 5-class classifier (%s.json)" % transferred in err
    assert "holds the 3 classes of smic" in err and "--num-output 3 --reinit-classifier" in err
    assert not (tmp_path / "runs").exists()

    fold = tmp_path / "pretrain" / "resnet10" / "pretrain"
    fold.mkdir(parents=True)
    final = fold / layout.FINAL_NAME
    final.write_bytes(b"weights")
    (fold / layout.PROVENANCE_NAME).write_text(
        json.dumps({"lmdb": {"train": {"family": "macro"}}}))
    rows = {"smic/%d" % i: {"dataset": "smic"} for i in range(2)}
    with pytest.raises(UserError, match="has a 5-class classifier .*a macro fold"):
        options.check_classes(final, rows, index)
    # the same weights for a five-class set, and weights with no record: no objection
    options.check_classes(final, {"casme2/1": {"dataset": "casme2"}}, index)
    bare = tmp_path / "bare.caffemodel"
    bare.write_bytes(b"weights")
    options.check_classes(bare, rows, index)
    assert options.weights_classes(bare) == (None, None)
