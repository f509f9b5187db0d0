"""`python3 -m microattention folds`: HDE, CDE and LOSO splits of generated
indexes (trees from dataset_fixtures turned into indexes by the index
command) and of small index CSVs written here."""
import csv
import json
import os

import pytest

import dataset_fixtures as fx
from microattention import cli
from microattention.folds import split
from microattention.datasets.common import COLUMNS
from microattention.naming import natural_key
from microattention.errors import UserError

FIVE = ["happiness", "surprise", "anger", "disgust", "sadness"]


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    """Indexes of generated CASME II, SAMM and SMIC trees: casme2.csv,
    samm.csv, smic.csv and the pooled cde.csv (CASME II + SAMM)."""
    d = tmp_path_factory.mktemp("idx")
    plans = {"casme2": fx.casme2(str(d / "casme2")), "samm": fx.samm(str(d / "samm")),
             "smic": fx.smic(str(d / "smic"))}
    for name in plans:
        assert cli.main(["index", "--dataset", name, "--root", str(d / name), "--no-image-check",
                         "--quiet-warnings", "--out", str(d / (name + ".csv"))]) == 0
    assert cli.main(["index", "--dataset", "casme2", "--root", str(d / "casme2"),
                     "--dataset", "samm", "--root", str(d / "samm"), "--no-image-check",
                     "--quiet-warnings", "--out", str(d / "cde.csv")]) == 0
    return d, plans


def run_folds(capsys, *argv):
    code = cli.main(["folds"] + [str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def index_rows(path):
    with open(str(path), newline="") as handle:
        return list(csv.DictReader(handle))


def sid(row):
    return "%s/%s/%s/%s" % (row["dataset"], row["subject"], row["clip"], row["frame"])


def write_index(path, samples):
    """An index CSV from (dataset, subject, clip, label) tuples."""
    with open(str(path), "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for dataset, subject, clip, label in samples:
            row = dict.fromkeys(COLUMNS, "")
            row.update(dataset=dataset, subject=subject, clip=clip, label=label, frame="1",
                       frame_path="%s/%s/1.jpg" % (subject, clip), root="/data")
            writer.writerow([row[c] for c in COLUMNS])
    return path


def test_cde_leaves_each_subject_out(indexes, tmp_path, capsys):
    d, plans = indexes
    out = tmp_path / "cde.json"
    code, text, err = run_folds(capsys, "--index", d / "cde.csv", "--protocol", "cde",
                                "--out", out, "--out", tmp_path / "cde.csv")
    assert code == 0, err
    rows = index_rows(d / "cde.csv")
    doc = json.loads(out.read_text())
    assert doc["format"] == "microattention-folds/1" and doc["protocol"] == "cde"
    assert doc["classes"] == FIVE
    ids = [f["fold"] for f in doc["folds"]]
    expected = ["casme2_%s" % s for s in plans["casme2"]["subjects_kept"]] + \
               ["samm_%s" % s for s in plans["samm"]["subjects_kept"]]
    assert len(ids) == 26 + 20 == len(expected)
    assert ids == expected   # sub01..sub26 then 006..025
    everything = sorted(sid(r) for r in rows)
    for fold in doc["folds"]:
        dataset, subject = fold["fold"].split("_", 1)
        assert fold["test_subjects"] == ["%s/%s" % (dataset, subject)]
        assert fold["test"] == [sid(r) for r in rows
                                if r["dataset"] == dataset and r["subject"] == subject]
        assert sorted(fold["train"] + fold["test"]) == everything
        train_subjects = {"/".join(k.split("/")[:2]) for k in fold["train"]}
        assert "%s/%s" % (dataset, subject) not in train_subjects
    # every sample is tested exactly once
    assert sorted(k for f in doc["folds"] for k in f["test"]) == everything
    # printed counts: one line per fold, cells train/test per class
    line = [l for l in text.splitlines() if l.startswith("casme2_sub01 ")][0]
    f0 = doc["folds"][0]
    labels = {sid(r): r["label"] for r in rows}
    cells = ["%d/%d" % (sum(labels[k] == c for k in f0["train"]),
                        sum(labels[k] == c for k in f0["test"])) for c in FIVE]
    assert line.split() == ["casme2_sub01", str(len(f0["train"])), str(len(f0["test"]))] + cells
    assert "46 fold(s)" in text and "casme2 26 + samm 20" in text
    # the CSV form holds the same folds
    _, _, from_csv = split.read_folds(str(tmp_path / "cde.csv"))
    _, classes, from_json = split.read_folds(str(out))
    assert classes == FIVE
    assert [(f["fold"], f["train"], f["test"], f["test_subjects"]) for f in from_csv] == \
           [(f["fold"], f["train"], f["test"], f["test_subjects"]) for f in from_json]


def test_outputs_are_byte_identical(indexes, tmp_path, capsys):
    d, _ = indexes
    first = [tmp_path / "a.json", tmp_path / "a.csv"]
    second = [tmp_path / "b.json", tmp_path / "b.csv"]
    for outs in (first, second):
        code, _, err = run_folds(capsys, "--index", d / "cde.csv", "--protocol", "cde",
                                 "--out", outs[0], "--out", outs[1])
        assert code == 0, err
    assert first[0].read_bytes() == second[0].read_bytes()
    assert first[1].read_bytes() == second[1].read_bytes()
    assert not [p for p in os.listdir(str(tmp_path)) if p.startswith(".")]


def test_hde_two_folds_each_database_in_turn(indexes, tmp_path, capsys):
    d, _ = indexes
    out = tmp_path / "hde.json"
    code, text, err = run_folds(capsys, "--index", d / "cde.csv", "--protocol", "hde",
                                "--out", out)
    assert code == 0, err
    rows = index_rows(d / "cde.csv")
    doc = json.loads(out.read_text())
    casme2 = [sid(r) for r in rows if r["dataset"] == "casme2"]
    samm = [sid(r) for r in rows if r["dataset"] == "samm"]
    assert [(f["fold"], f["train"], f["test"]) for f in doc["folds"]] == [
        ("casme2-to-samm", casme2, samm), ("samm-to-casme2", samm, casme2)]
    assert len(doc["folds"][1]["test_subjects"]) == 26
    assert doc["folds"][1]["test_subjects"][:2] == ["casme2/sub01", "casme2/sub02"]
    assert "HDE: 2 fold(s)" in text


def test_loso_smic_one_fold_per_subject(indexes, tmp_path, capsys):
    d, plans = indexes
    out = tmp_path / "smic.csv"
    code, text, err = run_folds(capsys, "--index", d / "smic.csv", "--protocol", "loso",
                                "--out", out)
    assert code == 0, err
    assert err == ""   # every SMIC subject leaves all three classes in training
    protocol, classes, got = split.read_folds(str(out))
    subjects = sorted(plans["smic"]["subjects"], key=natural_key)
    assert subjects[:3] == ["s1", "s2", "s3"] and "s20" in subjects
    assert [f["fold"] for f in got] == ["smic_%s" % s for s in subjects]
    assert len(got) == 16
    rows = index_rows(d / "smic.csv")
    for fold in got:
        subject = fold["fold"][len("smic_"):]
        assert sorted(fold["test"]) == sorted(sid(r) for r in rows if r["subject"] == subject)
        assert len(fold["train"]) + len(fold["test"]) == len(rows) == 164
    assert "classes: positive, negative, surprise" in text


def test_same_subject_name_in_two_datasets_are_two_subjects(tmp_path, capsys):
    index = write_index(tmp_path / "i.csv", [
        ("casme2", "01", "a", "happiness"), ("casme2", "01", "b", "surprise"),
        ("casme2", "2", "a", "happiness"), ("casme2", "2", "b", "surprise"),
        ("samm", "01", "a", "happiness"), ("samm", "01", "b", "surprise")])
    code, _, err = run_folds(capsys, "--index", index, "--protocol", "cde",
                             "--out", tmp_path / "f.json")
    assert code == 0, err
    doc = json.loads((tmp_path / "f.json").read_text())
    assert [(f["fold"], f["test"]) for f in doc["folds"]] == [
        ("casme2_01", ["casme2/01/a/1", "casme2/01/b/1"]),
        ("casme2_2", ["casme2/2/a/1", "casme2/2/b/1"]),
        ("samm_01", ["samm/01/a/1", "samm/01/b/1"])]
    assert doc["folds"][0]["train"] == ["casme2/2/a/1", "casme2/2/b/1",
                                        "samm/01/a/1", "samm/01/b/1"]


def test_cde_of_another_pool_says_it_is_not_the_papers(tmp_path, capsys):
    index = write_index(tmp_path / "i.csv", [
        ("casme2", "sub01", "a", "anger"), ("smic", "s1", "a", "positive")])
    code, text, err = run_folds(capsys, "--index", index, "--protocol", "cde",
                                "--out", tmp_path / "f.json")
    assert code == 0
    assert "note: the paper's CDE pools casme2 and samm; this index pools casme2 and smic" \
        in text
    assert json.loads((tmp_path / "f.json").read_text())["classes"] == ["anger", "positive"]
    assert err.splitlines() == ["warning: fold casme2_sub01: no training sample of class "
                                "anger (it has test samples of it)",
                                "warning: fold smic_s1: no training sample of class "
                                "positive (it has test samples of it)"]


def test_training_side_lacking_a_class_is_a_warning(tmp_path, capsys):
    # surprise only in subject s3: its fold trains without surprise (warning);
    # the other folds test without surprise (fine, no warning).
    index = write_index(tmp_path / "i.csv", [
        ("smic", "s1", "c1", "positive"), ("smic", "s1", "c2", "negative"),
        ("smic", "s2", "c1", "positive"), ("smic", "s2", "c2", "negative"),
        ("smic", "s3", "c1", "positive"), ("smic", "s3", "c2", "surprise")])
    code, text, err = run_folds(capsys, "--index", index, "--protocol", "loso",
                                "--out", tmp_path / "f.json")
    assert code == 0
    assert err.splitlines() == [
        "warning: fold smic_s3: no training sample of class surprise "
        "(it has test samples of it)"]
    assert text.splitlines()[4].split() == ["smic_s3", "4", "2", "2/1", "2/0", "0/1"]


def test_folds_file_with_a_subject_on_both_sides_is_rejected(tmp_path, capsys):
    index = write_index(tmp_path / "i.csv", [
        ("samm", "006", "a", "anger"), ("samm", "007", "a", "anger"),
        ("samm", "007", "b", "anger")])
    out = tmp_path / "f.json"
    assert run_folds(capsys, "--index", index, "--protocol", "loso", "--out", out)[0] == 0
    doc = json.loads(out.read_text())
    doc["folds"][0]["train"].remove("samm/007/b/1")
    doc["folds"][0]["test"].append("samm/007/b/1")
    out.write_text(json.dumps(doc))
    with pytest.raises(UserError, match="fold samm_006 has subject.*samm/007 on both"):
        split.read_folds(str(out))


@pytest.mark.parametrize("protocol,samples,message", [
    ("hde", [("casme2", "1", "a", "anger"), ("casme2", "2", "a", "anger")],
     r"hde needs an index pooling exactly casme2 and samm; index .*i.csv lacks samm"),
    ("hde", [("casme2", "1", "a", "anger"), ("samm", "2", "a", "anger"),
             ("smic", "s1", "a", "positive")], r"also holds smic"),
    ("loso", [("casme2", "1", "a", "anger"), ("samm", "2", "a", "anger")],
     r"loso works within one dataset; index .*i.csv pools casme2, samm"),
    ("cde", [("casme2", "1", "a", "anger"), ("casme2", "2", "a", "anger")],
     r"cde pools several datasets .* holds only casme2"),
    ("loso", [("casme2", "1", "a", "anger"), ("casme2", "1", "b", "anger")],
     r"single subject \(casme2/1\)"),
    ("loso", [("casme2", "1", "a", "anger"), ("casme2", "1", "a", "anger")],
     r"row 3: sample casme2/1/a/1 is listed twice"),
    ("loso", [("casme2", "1", "a", "anger"), ("casme2", "", "a", "anger")],
     r"row 3: empty subject"),
    ("loso", [], r"has no samples"),
    ("lopo", [("casme2", "1", "a", "anger")], r"--protocol lopo: unknown protocol"),
])
def test_bad_input_names_the_problem(tmp_path, capsys, protocol, samples, message):
    index = write_index(tmp_path / "i.csv", samples)
    code, out, err = run_folds(capsys, "--index", index, "--protocol", protocol,
                               "--out", tmp_path / "f.json")
    assert code == 1
    assert "Traceback" not in err
    assert err.startswith("microattention folds: error: ")
    import re
    assert re.search(message, err), err
    assert not (tmp_path / "f.json").exists()


def test_bad_files(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, _, err = run_folds(capsys, "--index", empty, "--protocol", "cde",
                             "--out", tmp_path / "f.json")
    assert code == 1 and "empty.csv is empty" in err
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    code, _, err = run_folds(capsys, "--index", other, "--protocol", "cde",
                             "--out", tmp_path / "f.json")
    assert code == 1 and "lacks the column(s) dataset, subject, clip, frame, label" in err
    code, _, err = run_folds(capsys, "--index", tmp_path / "none.csv", "--protocol", "cde",
                             "--out", tmp_path / "f.json")
    assert code == 1 and "none.csv does not exist" in err
    index = write_index(tmp_path / "i.csv", [("samm", "1", "a", "anger"),
                                             ("samm", "2", "a", "anger")])
    code, _, err = run_folds(capsys, "--index", index, "--protocol", "loso", "--out", index)
    assert code == 1 and "is also an input" in err
    code, _, err = run_folds(capsys, "--index", index, "--protocol", "loso",
                             "--out", tmp_path / "f.txt")
    assert code == 1 and "f.txt: the fold file must end in .json or .csv" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{\"format\": 1")
    with pytest.raises(UserError, match="bad.json is not valid JSON"):
        split.read_folds(str(bad))
    bad.write_text(json.dumps({"format": "microattention-folds/1",
                               "folds": [{"fold": "x", "train": "a/b/c/1", "test": []}]}))
    with pytest.raises(UserError, match="bad.json: fold 1 needs a fold id and train and test"):
        split.read_folds(str(bad))
    bad = tmp_path / "bad.csv"
    bad.write_text("fold,side,sample_id\nx,train,a/1/c/1\nx,test,b/2\n")
    with pytest.raises(UserError, match="fold x: b/2 is not a sample id"):
        split.read_folds(str(bad))
    bad.write_text("fold,side,sample_id\nx,train,a/1/c/1\nx,tset,a/2/c/1\n")
    with pytest.raises(UserError, match="bad.csv row 3: side 'tset' is not train or test"):
        split.read_folds(str(bad))


def test_fold_classes_are_the_lmdb_class_numbers_even_with_a_class_missing(tmp_path, capsys):
    # No sadness in this index: the fold file still numbers the five classes
    # as the LMDBs and the nets do (datasets.classes.CLASSES), not just the ones present.
    samples = [("casme2", s, "c%d" % i, label) for s in ("sub01", "sub02", "sub03")
               for i, label in enumerate(["happiness", "surprise", "anger", "disgust"])]
    path = write_index(tmp_path / "index.csv", samples)
    out = tmp_path / "folds.json"
    code, _, err = run_folds(capsys, "--index", path, "--protocol", "loso", "--out", out)
    assert code == 0, err
    assert json.loads(out.read_text())["classes"] == FIVE
