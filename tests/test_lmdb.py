"""The lmdb command: Caffe reads back what was written, classes are balanced,
augmentation stays within the paper's bounds, builds are reproducible and
atomic, bad input fails clearly. Faces are generated here (240x240 PNGs with
a horizontal bar whose orientation reveals a rotation). Runs in the image."""
import collections
import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from microattention import augment, cli, lmdbs, protocols
from microattention.datasets import classes
from microattention.lmdbs import encoding
from microattention.lmdbs.writer import remove_stale
from microattention.nets import prototxt
from microattention.datasets.common import COLUMNS, sample_id

cv2 = pytest.importorskip("cv2")
pytest.importorskip("lmdb")
try:
    caffe = prototxt.import_caffe()
except ImportError:
    pytest.skip("pycaffe not available (run inside the image)", allow_module_level=True)

TABLE5_ORDER = ["happiness", "surprise", "anger", "disgust", "sadness"]
MICRO_COUNTS = {"happiness": 12, "surprise": 5, "anger": 20, "disgust": 6, "sadness": 4}
MACRO_CLIPS = {"happiness": 16, "surprise": 12, "anger": 10, "disgust": 10, "sadness": 8}
MACRO_FRAMES = 3
BAR_VALUE = 250
LOW_VALUE = 3


# ------------------------------------------------------------------ fixtures

def face_image(number):
    """A 240x240 face stand-in: a noisy gradient (30..170), a dark corner block
    (colour shifts clip at 0) and a bright horizontal bar (clips at 255)."""
    rng = np.random.RandomState(number)
    size = augment.FACE_SIZE
    gradient = np.linspace(30, 150, size)[None, :].repeat(size, 0)
    image = gradient + rng.randint(0, 21, (size, size))
    image[:12, :12] = LOW_VALUE
    image[112:128, 40:200] = BAR_VALUE
    return image.astype(np.uint8)


def write_dataset(folder, rows):
    """Index CSV + faces folder (faces.csv, crops/<n>.png) for index rows."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "faces" / "crops").mkdir(parents=True)
    with open(str(folder / "index.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in COLUMNS})
    with open(str(folder / "faces" / "faces.csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample_id", "crop", "status"])
        for number, row in enumerate(rows):
            crop = "crops/%d.png" % number
            assert cv2.imwrite(str(folder / "faces" / crop), face_image(number))
            writer.writerow([sample_id(row), crop, "ok"])
    return folder / "index.csv", folder / "faces"


def micro_rows():
    rows, n = [], 0
    for label, count in MICRO_COUNTS.items():
        for k in range(count):
            n += 1
            rows.append(dict(dataset="casme2", subject="sub%02d" % (n % 6 + 1),
                             clip="EP%02d_%s" % (n, label[:3]), label=label, frame=40 + n))
    return rows


def macro_rows():
    rows, n = [], 0
    for label, clips in MACRO_CLIPS.items():
        for k in range(clips):
            n += 1
            for f in range(MACRO_FRAMES):
                rows.append(dict(dataset="mug", subject="%03d" % (n % 10 + 1),
                                 clip="%s/take%03d" % (label, k), label=label, frame=10 + f))
    return rows


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("micro"), micro_rows())


@pytest.fixture(scope="module")
def macro(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("macro"), macro_rows())


def build(index, faces, out, protocol, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("log", lambda text: None)
    return lmdbs.build(str(index), str(faces), str(out), protocol, **kw)


def faces_by_id(faces):
    table, _ = lmdbs.read_faces(str(faces))
    return {sid: cv2.imread(str(faces / crop), cv2.IMREAD_UNCHANGED)
            for sid, (crop, status, _) in table.items()}


def records(path):
    return list(lmdbs.read_records(path))


def caffe_read(path, n):
    """All n records through a real Caffe Data layer (TRAIN, no transform)."""
    proto = path.parent / ("%s.prototxt" % path.name)
    proto.write_text('layer { name: "data" type: "Data" top: "data" top: "label" '
                     'include { phase: TRAIN } data_param { source: "%s" backend: LMDB '
                     'batch_size: %d } }\n' % (path, n))
    net = caffe.Net(str(proto), caffe.TRAIN)
    net.forward()
    return net.blobs["data"].data.copy(), net.blobs["label"].data.copy()


# ------------------------------------------------------------------ class table

def test_class_numbers_follow_table5_and_smic_order():
    assert list(classes.CLASSES["micro"]) == TABLE5_ORDER
    assert list(classes.CLASSES["macro"]) == TABLE5_ORDER
    assert list(classes.CLASSES["smic"]) == ["positive", "negative", "surprise"]


@pytest.mark.parametrize("net", ["resnet10", "micro_attention", "complex_attention"])
def test_crop_and_test_sizes_match_the_prototxt(net):
    param = prototxt.load(net, "train_val")
    data = {prototxt._phase_of(l): l for l in param.layer if l.type == "Data"}
    assert data["TRAIN"].transform_param.crop_size == augment.CROP_SIZE
    assert not data["TEST"].transform_param.crop_size
    assert augment.TEST_SIZE == augment.CROP_SIZE


# ------------------------------------------------------------------ Caffe reads it back

def test_caffe_reads_test_split_with_labels_and_pixels(micro, tmp_path):
    index, faces = micro
    out = tmp_path / "test"
    meta = build(index, faces, out, "loso", split="test", subjects=["sub02"])
    expected = [r for r in micro_rows() if r["subject"] == "sub02"]
    assert meta["count"] == len(expected) == len(meta["samples"])
    assert all(not r["augmentation"] for r in meta["records"])
    # not resampled: the counts are the index's
    assert meta["class_counts_records"] == meta["class_counts_before"] == collections.OrderedDict(
        (c, sum(r["label"] == c for r in expected)) for c in TABLE5_ORDER)
    data, labels = caffe_read(out, meta["count"])
    assert data.shape == (len(expected), 1, augment.TEST_SIZE, augment.TEST_SIZE)
    images = faces_by_id(faces)
    for k, row in enumerate(expected):  # test splits keep the index order
        record = meta["records"][k]
        assert record["sample_id"] == sample_id(row)
        assert labels[k] == TABLE5_ORDER.index(row["label"])
        want = cv2.resize(images[sample_id(row)], (224, 224), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(data[k, 0], want.astype(np.float32))


def test_caffe_reads_training_records_in_sidecar_order(micro, tmp_path):
    index, faces = micro
    out = tmp_path / "train"
    meta = build(index, faces, out, "hde", seed=3)
    data, labels = caffe_read(out, meta["count"])
    assert data.shape[1:] == (1, 240, 240)
    assert [int(l) for l in labels] == [r["label"] for r in meta["records"]]
    stored = records(out)
    assert [k for k, _, _ in stored] == [r["key"] for r in meta["records"]]
    for k in range(0, meta["count"], 7):
        np.testing.assert_array_equal(data[k, 0], stored[k][2].astype(np.float32))


# ------------------------------------------------------------------ resampling

@pytest.mark.parametrize("protocol", ["hde", "cde", "loso"])
def test_training_classes_resampled_to_the_largest(micro, tmp_path, protocol):
    index, faces = micro
    out = tmp_path / protocol
    meta = build(index, faces, out, protocol, exclude_subjects=["sub01"])
    kept = [r for r in micro_rows() if r["subject"] != "sub01"]
    before = collections.Counter(r["label"] for r in kept)
    assert meta["class_counts_before"] == {c: before[c] for c in TABLE5_ORDER}
    largest = max(before.values())
    assert set(meta["class_counts_after_resampling"].values()) == {largest}
    per_record = 5 if protocol in ("cde", "loso") else 1
    stored = collections.Counter(label for _, label, _ in records(out))
    assert stored == {i: largest * per_record for i in range(5)}
    # every sample is used at least once, as a full (uncropped) face
    full = {r["sample_id"] for r in meta["records"] if "corner" not in r["augmentation"]}
    assert full == {sample_id(r) for r in kept}


def test_pretrain_is_not_resampled(macro, tmp_path):
    index, faces = macro
    meta = build(index, faces, tmp_path / "train", "pretrain")
    assert meta["class_counts_records"] == meta["class_counts_before"]
    assert meta["class_counts_before"]["happiness"] != meta["class_counts_before"]["sadness"]


# ------------------------------------------------------------------ augmentation

def bar_angle(image):
    """Counter-clockwise angle (degrees, as displayed) of the bright bar."""
    ys, xs = np.nonzero(image > 200)
    keep = (ys > 60) & (ys < 180)            # the bar, not a clipped corner
    ys, xs = ys[keep].astype(float), xs[keep].astype(float)
    xs -= xs.mean()
    ys -= ys.mean()
    theta = 0.5 * math.atan2(2 * (xs * ys).mean(), (xs * xs).mean() - (ys * ys).mean())
    return -math.degrees(theta)              # image y points down


def box_filter_interior(image, window, margin=8):
    """Mean over window x window (OpenCV's anchor: window // 2 before the
    pixel), computed with cumulative sums, on pixels away from the border."""
    pad = window
    a = np.pad(image.astype(np.float64), pad, mode="edge")
    s = a.cumsum(0).cumsum(1)
    s = np.pad(s, ((1, 0), (1, 0)))
    h, w = image.shape
    before = window // 2
    ys = np.arange(h)[:, None] + pad - before
    xs = np.arange(w)[None, :] + pad - before
    out = (s[ys + window, xs + window] - s[ys, xs + window] - s[ys + window, xs] + s[ys, xs])
    out /= window * window
    return out[margin:-margin, margin:-margin]


@pytest.mark.parametrize("protocol", ["pretrain", "hde", "loso"])
def test_augmentation_within_the_paper_bounds(macro, micro, tmp_path, protocol):
    index, faces = macro if protocol == "pretrain" else micro
    aug = protocols.PROTOCOLS[protocol].augmentation
    out = tmp_path / protocol
    meta = build(index, faces, out, protocol, seed=5)
    images = faces_by_id(faces)
    stored = records(out)
    fired = collections.Counter()
    checked = collections.Counter()
    for (key, label, data), record in zip(stored, meta["records"]):
        ops = record["augmentation"]
        fired.update(list(ops))
        assert set(ops) <= {"corner", "rotation", "smoothing", "colour_shift"}
        source = images[record["sample_id"]]
        if "colour_shift" in ops:
            assert -aug.colour_shift <= ops["colour_shift"] <= aug.colour_shift
        if "rotation" in ops:
            assert abs(ops["rotation"]) <= aug.rotation
            if "corner" not in ops:
                # the bar shows the recorded angle (it survives shift and smoothing)
                assert bar_angle(data) == pytest.approx(ops["rotation"], abs=0.3)
                checked["rotation"] += 1
        if "smoothing" in ops:
            assert 2 <= ops["smoothing"] <= aug.smoothing
        if set(ops) == {"colour_shift"}:
            want = np.clip(source.astype(int) + ops["colour_shift"], 0, 255)
            np.testing.assert_array_equal(data, want)
            checked["colour_shift"] += 1
        if set(ops) == {"smoothing"}:
            got = data[8:-8, 8:-8].astype(float)
            assert np.abs(got - box_filter_interior(source, ops["smoothing"])).max() <= 1.0
            assert np.abs(data.astype(int) - source).max() > 50  # the bar's edges blur
            checked["smoothing"] += 1
        if not ops:
            np.testing.assert_array_equal(data, source)
    n = len(stored)
    enabled = {"colour_shift": aug.colour_shift, "rotation": aug.rotation,
               "smoothing": aug.smoothing}
    for op, on in enabled.items():
        if on:
            # p = 0.5: within 5 standard deviations for these sizes
            assert abs(fired[op] / n - aug.p) < 5 * math.sqrt(0.25 / n), (op, fired[op], n)
            assert checked[op] >= 3, (op, checked)
        else:
            assert fired[op] == 0
    # shifts drawn on both sides, clipping included
    shifts = [r["augmentation"]["colour_shift"] for r in meta["records"]
              if "colour_shift" in r["augmentation"]]
    assert min(shifts) < -10 and max(shifts) > 10


def test_corner_crops_are_the_resized_224_corners(micro, tmp_path):
    index, faces = micro
    out = tmp_path / "cde"
    meta = build(index, faces, out, "cde", subjects=["sub03"])
    images = faces_by_id(faces)
    corners = collections.defaultdict(list)
    for (key, label, data), record in zip(records(out), meta["records"]):
        source = images[record["sample_id"]]
        corner = record["augmentation"].get("corner")
        assert set(record["augmentation"]) <= {"corner"}  # CDE: crops only
        corners[record["sample_id"]].append(corner)
        if corner is None:
            np.testing.assert_array_equal(data, source)
            continue
        top = 0 if corner.startswith("top") else 16
        left = 0 if corner.endswith("left") else 16
        want = cv2.resize(source[top:top + 224, left:left + 224], (240, 240),
                          interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(data, want)
    # every resampled face comes with its four corners
    for sid, seen in corners.items():
        counts = collections.Counter(seen)
        assert len(set(counts.values())) == 1
        assert set(counts) == {None, "top_left", "top_right", "bottom_left", "bottom_right"}


# ------------------------------------------------------------------ determinism

def test_same_seed_same_bytes_other_seed_other_order(micro, tmp_path):
    index, faces = micro
    a = build(index, faces, tmp_path / "a", "loso", seed=11)
    b = build(index, faces, tmp_path / "b", "loso", seed=11)
    c = build(index, faces, tmp_path / "c", "loso", seed=12)
    data = [(tmp_path / n / "data.mdb").read_bytes() for n in "abc"]
    assert data[0] == data[1]
    assert a["records"] == b["records"]
    assert (tmp_path / "a.json").read_bytes() != b"" and json.loads(
        (tmp_path / "a.json").read_text())["records"] == json.loads(
        (tmp_path / "b.json").read_text())["records"]
    assert [r["sample_id"] for r in a["records"]] != [r["sample_id"] for r in c["records"]]
    assert data[0] != data[2]
    assert a["class_counts_records"] == c["class_counts_records"]


def test_worker_processes_do_not_change_the_bytes(micro, tmp_path, monkeypatch):
    index, faces = micro
    monkeypatch.setattr(encoding, "PARALLEL_MIN", 1)
    build(index, faces, tmp_path / "one", "loso", seed=2, workers=1)
    build(index, faces, tmp_path / "two", "loso", seed=2, workers=2)
    assert (tmp_path / "one" / "data.mdb").read_bytes() == \
        (tmp_path / "two" / "data.mdb").read_bytes()


@pytest.mark.parametrize("shape,label", [((240, 240), 0), ((224, 224), 4), ((3, 5), 300)])
def test_datum_bytes_are_caffes_own_serialisation(shape, label):
    from caffe.proto import caffe_pb2
    image = np.random.RandomState(0).randint(0, 256, shape).astype(np.uint8)
    datum = caffe_pb2.Datum(channels=1, height=shape[0], width=shape[1],
                            data=image.tobytes(), label=label)
    assert lmdbs.datum_bytes(image, label) == datum.SerializeToString()


def test_map_grows_when_the_first_guess_is_too_small(micro, tmp_path, monkeypatch):
    index, faces = micro
    monkeypatch.setattr("microattention.lmdbs.writer.initial_map_size",
                        lambda count, size: 1 << 20)
    meta = build(index, faces, tmp_path / "small", "cde", seed=1)
    assert meta["count"] * 240 * 240 > 8 << 20
    stored = records(tmp_path / "small")
    assert [k for k, _, _ in stored] == [r["key"] for r in meta["records"]]
    assert all(d.shape == (240, 240) for _, _, d in stored)


def test_unchanged_inputs_reuse_the_lmdb(micro, tmp_path):
    index, faces = micro
    out = tmp_path / "train"
    lines = []
    first = build(index, faces, out, "hde", seed=1, log=lines.append)
    stamp = (out / "data.mdb").stat().st_mtime_ns
    again = build(index, faces, out, "hde", seed=1, log=lines.append)
    assert again["reused"] and not first["reused"]
    assert any(l.startswith("reused %s" % out) for l in lines)
    assert (out / "data.mdb").stat().st_mtime_ns == stamp
    other = build(index, faces, out, "hde", seed=2)
    assert not other["reused"]
    assert json.loads((tmp_path / "train.json").read_text())["seed"] == 2
    assert [k for k, _, _ in records(out)] == [r["key"] for r in other["records"]]


# ------------------------------------------------------------------ pre-training split

def test_pretrain_validation_split_is_stratified_by_whole_clips(macro, tmp_path):
    index, faces = macro
    train = build(index, faces, tmp_path / "train", "pretrain", seed=4)
    val = build(index, faces, tmp_path / "val", "pretrain", split="val", seed=4)
    ids_train = {s["sample_id"] for s in train["samples"]}
    ids_val = {s["sample_id"] for s in val["samples"]}
    rows = macro_rows()
    assert ids_train.isdisjoint(ids_val)
    assert ids_train | ids_val == {sample_id(r) for r in rows}

    def clips(ids):
        return {i.rsplit("/", 1)[0] for i in ids}
    assert clips(ids_train).isdisjoint(clips(ids_val))
    for label, n_clips in MACRO_CLIPS.items():
        images = n_clips * MACRO_FRAMES
        held = val["class_counts_before"][label]
        assert abs(held - 0.1 * images) <= MACRO_FRAMES / 2.0, (label, held)
    assert all(not r["augmentation"] for r in val["records"])
    assert val["count"] == len(ids_val)
    again = build(index, faces, tmp_path / "val2", "pretrain", split="val", seed=4)
    assert again["samples"] == val["samples"]


# ------------------------------------------------------------------ atomic output

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "python"), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_build_leaves_nothing_at_the_final_path(tmp_path, sig):
    rows = [dict(dataset="samm", subject="%03d" % (n % 4 + 6), clip="%03d_%d" % (n % 4 + 6, n),
                 label="anger" if n % 10 else "sadness", frame=n) for n in range(120)]
    index, faces = write_dataset(tmp_path / "data", rows)
    out = tmp_path / "out" / "train"
    proc = subprocess.Popen([sys.executable, "-m", "microattention", "lmdb", "--index",
                             str(index), "--faces", str(faces), "--protocol", "loso",
                             "--out", str(out)], env=_cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if out.parent.is_dir() and any(".building-" in p.name for p in out.parent.iterdir()):
            break
        time.sleep(0.005)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (-sig, 130), err.decode()[-2000:]
    assert not out.exists() and not lmdbs.sidecar_path(out).exists()
    left = [p.name for p in out.parent.iterdir()]
    if sig == signal.SIGTERM:   # only the builders' lock file (empty), no partial output
        assert left == [".train.lock"] and b"nothing written" in err
    # the next build removes a killed build's leftovers and completes
    meta = build(index, faces, out, "loso", workers=1)
    assert meta["count"] == 2 * 108 * 5
    assert sorted(p.name for p in out.parent.iterdir()) == [".train.lock", "train",
                                                             "train.json"]


# ------------------------------------------------------------------ bad input

def run_cli(capsys, *argv):
    code = cli.main(["lmdb"] + [str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _nothing_written(folder):
    return not folder.exists() or list(folder.iterdir()) == []


def test_bad_inputs_fail_clearly_without_output(micro, tmp_path, capsys):
    index, faces = micro
    outdir = tmp_path / "out"
    out = outdir / "train"
    base = ["--index", index, "--faces", faces, "--out", out]

    code, _, err = run_cli(capsys, *base, "--protocol", "lopo")
    assert code == 1 and "unknown protocol 'lopo'" in err and "loso" in err
    code, _, err = run_cli(capsys, "--index", index, "--faces", tmp_path, "--out", out,
                           "--protocol", "loso")
    assert code == 1 and "faces.csv not found" in err
    code, _, err = run_cli(capsys, "--index", index, "--faces", faces, "--out", faces,
                           "--protocol", "loso")
    assert code == 1 and "is the input" in err and "--faces" in err
    code, _, err = run_cli(capsys, "--index", index, "--faces", faces, "--out", index,
                           "--protocol", "loso")
    assert code == 1 and "--index" in err
    code, _, err = run_cli(capsys, "--index", index, "--faces", faces,
                           "--out", faces.parent, "--protocol", "loso")
    assert code == 1 and "holding the input" in err
    code, _, err = run_cli(capsys, *base, "--protocol", "hde", "--split", "val")
    assert code == 1 and "--split val" in err
    code, _, err = run_cli(capsys, *base, "--protocol", "loso", "--subjects", "sub99")
    assert code == 1 and "sub99" in err
    assert _nothing_written(outdir)

    # a sample missing from faces.csv and one whose face failed
    broken = tmp_path / "broken"
    broken.mkdir()
    lines = (faces / "faces.csv").read_text().splitlines()
    missing_id = lines[1].split(",")[0]
    failed_id = lines[2].split(",")[0]
    failed = lines[2].rsplit(",", 1)[0] + ",failed"
    (broken / "faces.csv").write_text("\n".join([lines[0], failed] + lines[3:]) + "\n")
    os.symlink(str(faces / "crops"), str(broken / "crops"))
    code, _, err = run_cli(capsys, "--index", index, "--faces", broken, "--out", out,
                           "--protocol", "loso")
    assert code == 1 and "2 sample(s)" in err
    assert missing_id in err and "not in" in err
    assert failed_id in err and "'failed'" in err and "--skip-bad" in err
    assert _nothing_written(outdir)

    code, stdout, err = run_cli(capsys, "--index", index, "--faces", broken, "--out", out,
                                "--protocol", "hde", "--skip-bad")
    assert code == 0, err
    assert "left out 2 sample(s)" in stdout
    meta = json.loads(lmdbs.sidecar_path(out).read_text())
    assert sorted(s["sample_id"] for s in meta["skipped"]) == sorted([missing_id, failed_id])
    assert len(meta["samples"]) == sum(MICRO_COUNTS.values()) - 2

    # an existing folder that is not an LMDB is never replaced
    keep = tmp_path / "results"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    code, _, err = run_cli(capsys, "--index", index, "--faces", faces, "--out", keep,
                           "--protocol", "loso")
    assert code == 1 and "not an LMDB folder" in err
    assert (keep / "notes.txt").read_text() == "mine"


def test_wrong_crop_size_is_named(tmp_path, capsys):
    rows = micro_rows()[:3]
    index, faces = write_dataset(tmp_path / "d", rows)
    cv2.imwrite(str(faces / "crops" / "1.png"), np.zeros((100, 120), np.uint8))
    code, _, err = run_cli(capsys, "--index", index, "--faces", faces, "--out",
                           tmp_path / "o", "--protocol", "loso")
    assert code == 1 and "1.png is 120x100" in err and sample_id(rows[1]) in err


# ------------------------------------------------------------------ inspect

def test_inspect_counts_and_contact_sheet(micro, tmp_path, capsys):
    index, faces = micro
    out = tmp_path / "train"
    meta = build(index, faces, out, "hde")
    png = tmp_path / "sheet.png"
    code, stdout, err = run_cli(capsys, "inspect", out, "--out", png, "--count", "20")
    assert code == 0, err
    per_class = max(MICRO_COUNTS.values())
    for number, name in enumerate(TABLE5_ORDER):
        assert "  %-5d %-12s %8d" % (number, name, per_class) in stdout
    assert "%d records" % meta["count"] in stdout
    sheet = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
    assert sheet.shape == (3 * (128 + 18), 8 * 128)   # 20 tiles, 8 a row, captions
    code, _, err = run_cli(capsys, "inspect", tmp_path)
    assert code == 1 and "not an LMDB" in err


def test_sample_lists_and_index_problems(micro, tmp_path, capsys):
    index, faces = micro
    rows = micro_rows()
    chosen = [sample_id(r) for r in rows[::5]]
    ids = tmp_path / "ids.txt"
    ids.write_text("# fold 1\n" + "\n".join(chosen) + "\n")
    meta = build(index, faces, tmp_path / "picked", "hde", split="test", samples=str(ids))
    assert [s["sample_id"] for s in meta["samples"]] == chosen
    ids.write_text(chosen[0] + "\ncasme2/sub01/EP99/1\n")
    code, _, err = run_cli(capsys, "--index", index, "--faces", faces, "--out", tmp_path / "o",
                           "--protocol", "hde", "--samples", ids)
    assert code == 1 and "casme2/sub01/EP99/1" in err

    def index_with(extra):
        path = tmp_path / "mixed.csv"
        with open(str(path), "w", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            for row in rows[:2] + [extra]:
                writer.writerow({c: row.get(c, "") for c in COLUMNS})
        return path
    mixed = index_with(dict(dataset="smic", subject="s1", clip="s1_po_01", label="positive",
                            frame=5))
    code, _, err = run_cli(capsys, "--index", mixed, "--faces", faces, "--out", tmp_path / "o",
                           "--protocol", "loso")
    assert code == 1 and "different class sets" in err and "smic" in err
    fear = index_with(dict(dataset="samm", subject="006", clip="006_1_2", label="fear", frame=5))
    code, _, err = run_cli(capsys, "--index", fear, "--faces", faces, "--out", tmp_path / "o",
                           "--protocol", "loso")
    assert code == 1 and "row 4" in err and "'fear'" in err
    assert not (tmp_path / "o").exists()


def test_stale_builds_are_named_by_host_and_pid_and_another_hosts_pid_is_not_tested(
        tmp_path, monkeypatch):
    import socket
    from microattention import locks
    out = tmp_path / "train"
    here = socket.gethostname()
    gone = subprocess.Popen(["true"])
    gone.wait()                                   # a pid of this host that has ended
    names = [".train.building-%s-%d" % (here, gone.pid), ".train.building-%s-%d.json" % (
        here, gone.pid), ".train.building-node7.cluster-%d" % os.getpid(),
        ".train.old-%s-%d" % (here, os.getpid())]
    for name in names:
        (tmp_path / name).mkdir() if not name.endswith(".json") else (tmp_path / name).touch()
    tested = []
    real_kill = os.kill
    monkeypatch.setattr(os, "kill", lambda pid, sig: tested.append(pid) or real_kill(pid, sig))
    said = []
    remove_stale(out, False, said.append)     # without the lock (MA_NO_FLOCK)
    assert sorted(tested) == sorted([gone.pid, gone.pid, os.getpid()])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])
    assert any("node7.cluster-%d: made by pid %d on node7.cluster" % (os.getpid(), os.getpid())
               in s for s in said), said
    remove_stale(out, True, said.append)      # holding the output's lock: all stale
    assert list(tmp_path.iterdir()) == []
    assert locks.parse_owner(locks.owner()) == (here or "localhost", os.getpid())
