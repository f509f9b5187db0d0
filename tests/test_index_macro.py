"""Index of the macro-expression sets used for pre-training (paper 4.1): CK+,
Oulu-CASIA, JAFFE, MUG on generated trees at the paper's image totals."""
import os
from collections import Counter

import pytest

import dataset_fixtures as fx
from dataset_fixtures import read_rows, run_index
from microattention.datasets import mug as mug_reader

FIVE = {"happiness", "surprise", "anger", "disgust", "sadness"}


def index_rows(capsys, tmp_path, dataset, root, *extra):
    out = tmp_path / ("%s.csv" % dataset)
    excluded = tmp_path / ("%s-excluded.csv" % dataset)
    code, stdout, stderr = run_index(capsys, "--dataset", dataset, "--root", root, "--out",
                                     out, "--excluded", excluded, *extra)
    assert code == 0, stderr
    return read_rows(out), read_rows(excluded), stdout


def test_ckplus_852_images_last_three_frames(tmp_path, capsys):
    manifest = fx.ckplus(str(tmp_path / "ck"))
    rows, excluded, stdout = index_rows(capsys, tmp_path, "ckplus", tmp_path / "ck")
    assert len(rows) == manifest["images"] == 852
    assert set(r["label"] for r in rows) == FIVE
    assert Counter(r["reason"] for r in excluded) == {"contempt": 18, "fear": 25}
    assert "12 sequence(s) without an emotion label" in stdout
    expected = {"%s_%s" % (p["subject"], p["sequence"]): p["last"]
                for p in manifest["sequences"] if p["code"] in (1, 3, 5, 6, 7)}
    got = {}
    for row in rows:
        got.setdefault(row["clip"], []).append(os.path.basename(row["frame_path"]))
        assert row["apex_source"] == "last-frames"
    assert got == expected
    labels = Counter(r["label"] for r in rows)
    assert labels == {"anger": 135, "disgust": 177, "happiness": 207, "sadness": 84,
                      "surprise": 249}


def test_ckplus_bad_label_file_names_the_file(tmp_path, capsys):
    fx.ckplus(str(tmp_path / "ck"), counts={5: 2, 7: 1}, unlabelled=0, subjects=3)
    label_dir = tmp_path / "ck" / "Emotion" / "S006" / "001"
    label_file = next(label_dir.iterdir())
    label_file.write_text("happy\n")
    code, _, stderr = run_index(capsys, "--dataset", "ckplus", "--root", tmp_path / "ck",
                                "--out", tmp_path / "o.csv")
    assert code == 1 and "bad label file" in stderr and label_file.name in stderr


def test_oulu_1200_images_vis_strong(tmp_path, capsys):
    manifest = fx.oulu(str(tmp_path / "oulu"))
    rows, excluded, _ = index_rows(capsys, tmp_path, "oulu", tmp_path / "oulu")
    assert len(rows) == manifest["images"] == 1200
    assert all(r["frame_path"].startswith("OriginalImg/VL/Strong/") for r in rows)
    assert Counter(r["label"] for r in rows) == {label: 240 for label in FIVE}
    assert {os.path.basename(r["frame_path"]) for r in rows} == {"001.jpeg", "002.jpeg",
                                                                  "003.jpeg"}
    assert Counter(r["reason"] for r in excluded) == {"fear": 80}
    assert len({r["subject"] for r in rows}) == 80
    # Other illumination and camera are selectable and hold only P001 here.
    rows, _, _ = index_rows(capsys, tmp_path, "oulu", tmp_path / "oulu",
                            "--illumination", "weak")
    assert len(rows) == 3 and rows[0]["frame_path"].startswith("OriginalImg/VL/Weak/")


def test_jaffe_151_images(tmp_path, capsys):
    manifest = fx.jaffe(str(tmp_path / "jaffe"))
    rows, excluded, stdout = index_rows(capsys, tmp_path, "jaffe", tmp_path / "jaffe")
    assert len(rows) == manifest["images"] == 151
    assert Counter(r["reason"] for r in excluded) == {"fear": 32, "neutral": 30}
    assert len({r["subject"] for r in rows}) == 10
    assert "number of samples           213      151" in stdout
    assert all(r["apex_source"] == "single-image" for r in rows)


def test_mug_8228_images_around_the_middle_frame(tmp_path, capsys):
    manifest = fx.mug(str(tmp_path / "mug"))
    rows, excluded, _ = index_rows(capsys, tmp_path, "mug", tmp_path / "mug",
                                   "--no-image-check")
    assert len(rows) == manifest["images"] == 8228
    assert Counter(r["reason"] for r in excluded) == {"fear": 2, "neutral": 2}
    per_clip = Counter(r["clip"] for r in rows)
    assert sorted(per_clip.values()) == sorted(manifest["counts"])
    assert set(per_clip.values()) <= set(range(6, 11))
    # The selected frames are consecutive and centred on the middle frame.
    frames = {}
    for row in rows:
        frames.setdefault(row["clip"], []).append(int(row["frame"]))
        assert row["apex_source"] == "middle-frame"
    row = rows[0]
    length = int(row["offset"])
    selected = frames[row["clip"]]
    assert selected == list(range(selected[0], selected[0] + len(selected)))
    middle = (length - 1) // 2 + 1
    assert selected[(len(selected) - 1) // 2] == middle


def test_mug_frame_count_option_and_apex_file(tmp_path, capsys):
    manifest = fx.mug(str(tmp_path / "mug"), images=60, subjects=3, dropped=())
    rows, _, _ = index_rows(capsys, tmp_path, "mug", tmp_path / "mug", "--mug-frames", "4")
    assert len(rows) == 4 * manifest["clips"]
    apex = tmp_path / "apex.csv"
    apex.write_text("subject,expression,take,apex\n001,anger,take000,3\n")
    rows, _, stdout = index_rows(capsys, tmp_path, "mug", tmp_path / "mug",
                                 "--mug-apex", apex)
    annotated = [r for r in rows if r["apex_source"] == "annotated"]
    # Clip 0 is 001/anger/take000; its window is clipped at the first frame.
    assert [int(r["frame"]) for r in annotated] == list(range(1, manifest["counts"][0] + 1))
    assert len(rows) == 60
    apex.write_text("subject,expression,take,apex\n001,anger,take000,999\n")
    code, _, stderr = run_index(capsys, "--dataset", "mug", "--root", tmp_path / "mug",
                                "--mug-apex", apex, "--out", tmp_path / "o.csv")
    assert code == 1 and "apex outside stored frames" in stderr


@pytest.mark.parametrize("length,expected", [(50, 6), (59, 6), (60, 6), (75, 7),
                                             (100, 10), (160, 10), (30, 6)])
def test_mug_frames_per_clip_rule(length, expected):
    assert mug_reader.frames_for(length, 6, 10) == expected


def test_unreadable_macro_image_is_an_error_or_exclusion(tmp_path, capsys):
    fx.jaffe(str(tmp_path / "j"), counts={"HA": 3, "NE": 1})
    victim = sorted(p for p in (tmp_path / "j").iterdir() if ".HA" in p.name)[0]
    victim.write_bytes(b"broken")
    code, _, stderr = run_index(capsys, "--dataset", "jaffe", "--root", tmp_path / "j",
                                "--out", tmp_path / "o.csv")
    assert code == 1 and "unreadable image" in stderr and victim.name in stderr
    rows, excluded, stdout = index_rows(capsys, tmp_path, "jaffe", tmp_path / "j",
                                        "--skip-bad")
    assert len(rows) == 2
    assert Counter(r["reason"] for r in excluded) == {"unreadable image": 1, "neutral": 1}
