"""Index of the micro-expression sets (CASME II, SAMM, SMIC) on generated trees:
Table 1 counts, every documented quirk, determinism, the pooled CDE index."""
import os
import shutil
from collections import Counter

import pytest

import dataset_fixtures as fx
from dataset_fixtures import read_rows, run_index
from microattention.datasets import objective

TABLE1_NAMES = {fx.NAMES[n]: c for n, c in fx.TABLE1["casme2"].items()}


def class_counts(rows):
    return Counter(r["objective_class"] or r["label"] for r in rows)


def kept_counts(table):
    return Counter({fx.ROMAN[n]: c for n, c in table.items() if n <= 5})


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("micro")
    return {
        "casme2": (base / "casme2", fx.casme2(str(base / "casme2"))),
        "samm": (base / "samm", fx.samm(str(base / "samm"))),
        "smic": (base / "smic", fx.smic(str(base / "smic"))),
    }


# ------------------------------------------------------------------ Table 1
def test_casme2_table1_counts_from_objective_sheet(trees, tmp_path, capsys):
    root, manifest = trees["casme2"]
    out = tmp_path / "c.csv"
    excluded = tmp_path / "x.csv"
    code, stdout, _ = run_index(capsys, "--dataset", "casme2", "--root", root, "--out", out,
                                "--excluded", excluded)
    assert code == 0
    rows = read_rows(out)
    assert len(rows) == 185
    assert class_counts(rows) == kept_counts(fx.TABLE1["casme2"])
    assert {r["class_source"] for r in rows} == {"objective-sheet"}
    assert len({r["subject"] for r in rows}) == 26
    dropped = Counter(r["reason"] for r in read_rows(excluded))
    assert dropped == {"class VI (fear)": 1, "class VII (others)": 69}
    # The printed table has every Table 1 class with its count.
    for number, count in fx.TABLE1["casme2"].items():
        line = [l for l in stdout.splitlines() if "(%s)" % fx.ROMAN[number] in l
                and fx.NAMES[number].capitalize() in l][0]
        assert line.split()[2] == str(count)
    assert "number of samples           255      185" in stdout
    # Apex frame and its source agree with what the generator wrote.
    planned = {("sub%02d" % c["subject"], c["clip"]): c for c in manifest["clips"]}
    for row in rows:
        clip = planned[(row["subject"], row["clip"])]
        assert int(row["frame"]) == clip["apex"]
        assert row["apex_source"] == clip["apex_source"]
        assert row["label"] == fx.NAMES[clip["class"]]
        assert row["frame_path"] == "Cropped/%s/%s/reg_img%d.jpg" % (
            row["subject"], row["clip"], clip["apex"])
        assert os.path.isfile(os.path.join(row["root"], row["frame_path"]))


def test_casme2_raw_frames_option(trees, tmp_path, capsys):
    root, _ = trees["casme2"]
    out = tmp_path / "raw.csv"
    assert run_index(capsys, "--dataset", "casme2", "--root", root, "--out", out,
                     "--frames", "raw")[0] == 0
    assert all(r["frame_path"].startswith("CASME2_RAW_selected/sub") and
               "/img" in r["frame_path"] for r in read_rows(out))


def test_casme2_classes_derived_from_au_strings(trees, tmp_path, capsys):
    root, _ = trees["casme2"]
    shipped, derived = tmp_path / "s.csv", tmp_path / "d.csv"
    run_index(capsys, "--dataset", "casme2", "--root", root, "--out", shipped)
    code, stdout, _ = run_index(capsys, "--dataset", "casme2", "--root", root, "--out",
                                derived, "--derive-classes")
    assert code == 0
    assert "DERIVED FROM THE AU STRINGS" in stdout
    a, b = read_rows(shipped), read_rows(derived)
    assert {r["class_source"] for r in b} == {"au-derived"}
    assert [(r["clip"], r["objective_class"]) for r in a] == \
        [(r["clip"], r["objective_class"]) for r in b]


def test_casme2_missing_apex_falls_back_to_midpoint_with_warning(trees, tmp_path, capsys):
    root, manifest = trees["casme2"]
    code, _, stderr = run_index(capsys, "--dataset", "casme2", "--root", root, "--out",
                                tmp_path / "c.csv")
    assert code == 0
    warnings = [l for l in stderr.splitlines() if "midpoint" in l]
    assert len(warnings) == 2
    assert "CASME2-coding-20190701.xlsx, sheet Sheet1, row 2: apex '/'" in warnings[0]
    assert "row 3: apex is missing" in warnings[1]
    rows = {(r["subject"], r["clip"]): r for r in read_rows(tmp_path / "c.csv")}
    midpoint = [c for c in manifest["clips"] if c["apex_source"] == "midpoint"]
    assert len(midpoint) == 2
    for clip in midpoint:
        row = rows[("sub%02d" % clip["subject"], clip["clip"])]
        assert row["apex_source"] == "midpoint"
        assert int(row["frame"]) == (int(row["onset"]) + int(row["offset"])) // 2


def test_samm_table1_counts_header_on_row_14(trees, tmp_path, capsys):
    root, manifest = trees["samm"]
    out = tmp_path / "s.csv"
    code, stdout, stderr = run_index(capsys, "--dataset", "samm", "--root", root,
                                     "--out", out)
    assert code == 0
    assert "header on row 14" in stdout
    rows = read_rows(out)
    assert class_counts(rows) == kept_counts(fx.TABLE1["samm"])
    assert {r["class_source"] for r in rows} == {"objective-column"}
    assert "participants                 32       20" in stdout
    planned = {(c["subject"], c["clip"]): c for c in manifest["clips"]}
    digits = set()
    for row in rows:
        clip = planned[(row["subject"], row["clip"])]
        assert int(row["frame"]) == clip["apex"]
        assert row["apex_source"] == clip["apex_source"]
        name = os.path.basename(row["frame_path"])
        digits.add(len(name.split("_")[1].split(".")[0]))
        assert name == "%s_%0*d.jpg" % (row["subject"], clip["digits"], clip["apex"])
    assert digits == {4, 5}
    assert "row 15: apex '-1' is not a frame number" in stderr
    assert "row 16: apex is missing" in stderr


def test_samm_derived_classes_and_or_entries(trees, tmp_path, capsys):
    root, _ = trees["samm"]
    shipped, derived = tmp_path / "s.csv", tmp_path / "d.csv"
    run_index(capsys, "--dataset", "samm", "--root", root, "--out", shipped)
    code, _, stderr = run_index(capsys, "--dataset", "samm", "--root", root, "--out",
                                derived, "--derive-classes")
    assert code == 0
    assert [r["objective_class"] for r in read_rows(shipped)] == \
        [r["objective_class"] for r in read_rows(derived)]
    assert "Action Units 'A12 or A14': alternatives 12 / 14 map to classes I, VII" in stderr
    assert "FACS_Movement_Only, row" in stderr
    # 'R12 or L12' is one reading: class I, kept.
    assert any(r["au"] == "R12 or L12" and r["objective_class"] == "I"
               for r in read_rows(derived))


def test_smic_hs_counts_and_middle_frame(trees, tmp_path, capsys):
    root, manifest = trees["smic"]
    out = tmp_path / "m.csv"
    code, stdout, _ = run_index(capsys, "--dataset", "smic", "--root", root, "--out", out)
    assert code == 0
    rows = read_rows(out)
    assert Counter(r["label"] for r in rows) == fx.TABLE1["smic"]
    assert len({r["subject"] for r in rows}) == 16
    assert {r["apex_source"] for r in rows} == {"middle-frame"}
    middle = {c["clip"]: c["middle"] for c in manifest["clips"]}
    assert {r["clip"]: int(r["frame"]) for r in rows} == middle
    assert not any("non_micro" in r["frame_path"] for r in rows)


@pytest.mark.parametrize("camera", ["vis", "nir"])
def test_smic_other_cameras(tmp_path, capsys, camera):
    fx.smic(str(tmp_path), camera=camera)
    out = tmp_path / "m.csv"
    assert run_index(capsys, "--dataset", "smic", "--root", tmp_path, "--camera", camera,
                     "--out", out)[0] == 0
    rows = read_rows(out)
    assert len(rows) == 71 and len({r["subject"] for r in rows}) == 8
    assert run_index(capsys, "--dataset", "smic", "--root", tmp_path, "--out", out)[0] == 1


# ------------------------------------------------------------------ pooled CDE
def test_pooled_casme2_samm_gives_253_samples_and_46_subjects(trees, tmp_path, capsys):
    (croot, cman), (sroot, sman) = trees["casme2"], trees["samm"]
    out = tmp_path / "cde.csv"
    code, stdout, _ = run_index(capsys, "--dataset", "casme2", "--root", croot,
                                "--dataset", "samm", "--root", sroot, "--out", out)
    assert code == 0
    rows = read_rows(out)
    assert len(rows) == 253
    assert Counter(r["dataset"] for r in rows) == {"casme2": 185, "samm": 68}
    subjects = {d: sorted({r["subject"] for r in rows if r["dataset"] == d})
                for d in ("casme2", "samm")}
    assert subjects["casme2"] == cman["subjects_kept"]
    assert subjects["samm"] == sman["subjects_kept"]
    assert (len(subjects["casme2"]), len(subjects["samm"])) == (26, 20)
    assert "pooled: 253 samples from 46 subjects (26 CASME II + 20 SAMM)" in stdout
    assert "SAMM: " + " ".join(sman["subjects_kept"]) in stdout


# ------------------------------------------------------------------ determinism
def test_index_is_byte_identical_across_runs(trees, tmp_path, capsys):
    root, _ = trees["samm"]
    first, second = tmp_path / "1.csv", tmp_path / "2.csv"
    run_index(capsys, "--dataset", "samm", "--root", root, "--out", first)
    run_index(capsys, "--dataset", "samm", "--root", root, "--out", second)
    data = first.read_bytes()
    assert data == second.read_bytes()
    assert b"\r" not in data and data.endswith(b"\n")
    rows = read_rows(first)
    keys = [(r["subject"], r["clip"]) for r in rows]
    assert keys == sorted(keys)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temp left


def _comparable(path, drop=("root",)):
    return [{k: v for k, v in r.items() if k not in drop} for r in read_rows(path)]


@pytest.mark.parametrize("variant", ["shuffled", "offset", "csv"])
def test_casme2_column_order_and_header_offset_do_not_change_index(
        trees, tmp_path, capsys, variant):
    base_root, _ = trees["casme2"]
    base = tmp_path / "base.csv"
    run_index(capsys, "--dataset", "casme2", "--root", base_root, "--out", base)
    root = tmp_path / "tree"
    kwargs = {"shuffled": {"order": [8, 3, 7, 0, 2, 5, 1, 6, 4]},
              "offset": {"preamble": [["CASME II coding"], [None], ["updated 2019"]]},
              "csv": {"sheet_name": "CASME2-coding-20190701.csv",
                      "order": [1, 0, 2, 3, 4, 5, 6, 7, 8]}}[variant]
    fx.casme2(str(root), **kwargs)
    out = tmp_path / "v.csv"
    code, stdout, _ = run_index(capsys, "--dataset", "casme2", "--root", root, "--out", out)
    assert code == 0
    drop = ("root",) if variant == "shuffled" else ("root", "source")
    assert _comparable(out, drop) == _comparable(base, drop)
    if variant == "offset":
        assert "header on row 4" in stdout


def test_samm_column_order_does_not_change_index(trees, tmp_path, capsys):
    base_root, _ = trees["samm"]
    base = tmp_path / "base.csv"
    run_index(capsys, "--dataset", "samm", "--root", base_root, "--out", base)
    root = tmp_path / "tree"
    fx.samm(str(root), order=[11, 1, 0, 8, 4, 3, 5, 2, 6, 7, 9, 10], preamble=[["v3"]])
    out = tmp_path / "v.csv"
    assert run_index(capsys, "--dataset", "samm", "--root", root, "--out", out)[0] == 0
    assert _comparable(out, ("root", "source")) == _comparable(base, ("root", "source"))


# ------------------------------------------------------------------ bad copies
BAD = {"apex-outside": "apex outside stored frames", "missing-folder": "missing clip folder",
       "unreadable": "unreadable image"}


@pytest.mark.parametrize("dataset", ["casme2", "samm"])
@pytest.mark.parametrize("quirk", sorted(BAD))
def test_bad_samples_are_errors_or_counted_exclusions(tmp_path, capsys, dataset, quirk):
    root = tmp_path / dataset
    manifest = getattr(fx, dataset)(str(root), bad=(quirk,))
    clip = manifest["bad"][quirk]
    out = tmp_path / "i.csv"
    code, _, stderr = run_index(capsys, "--dataset", dataset, "--root", root, "--out", out)
    assert code == 1
    assert BAD[quirk] in stderr and clip in stderr and "--skip-bad" in stderr
    if quirk != "missing-folder":
        assert ", sheet " in stderr or quirk == "unreadable"
    assert not out.exists()
    excluded = tmp_path / "x.csv"
    code, stdout, _ = run_index(capsys, "--dataset", dataset, "--root", root, "--out", out,
                                "--skip-bad", "--excluded", excluded)
    assert code == 0
    assert len(read_rows(out)) == manifest["kept"] - 1
    bad_rows = [r for r in read_rows(excluded) if r["reason"] == BAD[quirk]]
    assert [r["clip"] for r in bad_rows] == [clip]
    assert "%s" % BAD[quirk] in stdout


def test_clip_missing_from_objective_sheet_is_an_error(tmp_path, capsys):
    import openpyxl
    root = tmp_path / "c"
    fx.casme2(str(root))
    path = root / "CASME2-ObjectiveClasses.xlsx"
    book = openpyxl.load_workbook(str(path))
    sheet = book.active
    removed = sheet.cell(row=2, column=2).value
    sheet.delete_rows(2)
    book.save(str(path))
    code, _, stderr = run_index(capsys, "--dataset", "casme2", "--root", root,
                                "--out", tmp_path / "o.csv")
    assert code == 1
    assert "no objective class" in stderr and removed in stderr and "row 2" in stderr


def test_xls_sheet_asks_for_xlsx(tmp_path, capsys):
    root = tmp_path / "c"
    fx.casme2(str(root))
    old = root / "CASME2_label_Ver_2.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    code, _, stderr = run_index(capsys, "--dataset", "casme2", "--root", root,
                                "--sheet", old, "--out", tmp_path / "o.csv")
    assert code == 1
    assert "CASME2_label_Ver_2.xls" in stderr and ".xlsx or .csv" in stderr


def test_missing_sheet_and_frames_are_clear_errors(tmp_path, capsys):
    code, _, stderr = run_index(capsys, "--dataset", "samm", "--root", tmp_path,
                                "--out", tmp_path / "o.csv")
    assert code == 1 and "no coding sheet" in stderr
    shutil.copy(os.devnull, str(tmp_path / "x"))
    code, _, stderr = run_index(capsys, "--dataset", "smic", "--root", tmp_path,
                                "--out", tmp_path / "o.csv")
    assert code == 1 and "HS" in stderr


# ------------------------------------------------------------------ AU strings
@pytest.mark.parametrize("text,expected", [
    ("4+7", 3), ("R12", 1), ("L10", 4), ("12+14(unclear)", 7), ("AU12", 1),
    ("6+12", 1), ("1+2+4", 6), ("20", 6), ("R4+L7", 3), ("4+7+43", 3),
    ("R12 or L12", 1), ("A12 or A14", 7), ("B6+B12", 1), ("15+17", 5), ("12C", 1),
    ("14", 7), ("25+26", 2), ("4+5+7+9", 4),
])
def test_objective_class_from_au_string(text, expected):
    assert objective.classify(text)[0] == expected


@pytest.mark.parametrize("text", ["", "/", "12+x", "+"])
def test_unparsable_au_string_raises(text):
    with pytest.raises(ValueError):
        objective.classify(text)


@pytest.mark.parametrize("value,expected", [(3, 3), ("3", 3), (3.0, 3), ("III", 3),
                                            ("Class VII", 7)])
def test_objective_class_values(value, expected):
    assert objective.parse_class(value) == expected


def test_generator_au_strings_agree_with_their_class():
    for table in (fx.CASME2_AUS, fx.SAMM_AUS):
        for number, strings in table.items():
            for text in strings:
                assert objective.classify(text)[0] == number, text


# AU string -> objective class, written out by hand from the objective-class
# table of docs (/work/shared/reference/datasets.md, table 9 of Merghani et
# al.), independently of the parser and of the fixture generator: a parser
# regression changes a class here. '' marks a string that must be rejected.
HAND_CLASSES = [
    # I happiness: AU6, AU12, 6+12, 6+7+12, 7+12
    ("12", "I"), ("6", "I"), ("6+12", "I"), ("6+7+12", "I"), ("7+12", "I"), ("R12", "I"),
    ("L12", "I"), ("AU12", "I"), ("AU6+AU12", "I"), ("12B", "I"), ("B6+B12", "I"),
    ("6+12+43", "I"), ("R12 or L12", "I"), ("12 + 6", "I"),
    # II surprise: 1+2, AU5, AU25, 1+2+25, 25+26, 5+24
    ("1+2", "II"), ("5", "II"), ("25", "II"), ("1+2+25", "II"), ("25+26", "II"),
    ("5+24", "II"), ("R1+R2", "II"), ("2+1", "II"),
    # III anger: AU23, AU4, 4+7, 4+5, 4+5+7, 17+24, 4+6+7, 4+38
    ("23", "III"), ("4", "III"), ("4+7", "III"), ("4+5", "III"), ("4+5+7", "III"),
    ("17+24", "III"), ("4+6+7", "III"), ("4+38", "III"), ("L4", "III"), ("R4+L7", "III"),
    ("4+7(unclear)", "III"), ("4+(15)", "III"),
    # IV disgust: AU10, AU9, 4+9, 4+40, 4+5+40, 4+7+9, 4+9+17, 4+7+10, 4+5+7+9, 7+10
    ("10", "IV"), ("9", "IV"), ("4+9", "IV"), ("4+40", "IV"), ("4+5+40", "IV"),
    ("4+7+9", "IV"), ("4+9+17", "IV"), ("4+7+10", "IV"), ("4+5+7+9", "IV"), ("7+10", "IV"),
    ("L10", "IV"), ("R10", "IV"),
    # V sadness: AU1, AU15, 1+4, 6+15, 15+17
    ("1", "V"), ("15", "V"), ("1+4", "V"), ("6+15", "V"), ("15+17", "V"), ("R15", "V"),
    # VI fear: 1+2+4, AU20
    ("1+2+4", "VI"), ("20", "VI"),
    # VII others: anything else
    ("14", "VII"), ("12+14", "VII"), ("1+15", "VII"), ("A12 or A14", "VII"),
    ("6+12+14", "VII"), ("12+14(unclear)", "VII"), ("17", "VII"), ("38", "VII"),
    # not AU strings: a missing '+', stray text, AU numbers past 99, empty terms
    ("6 12", ""), ("12+x", ""), ("612", ""), ("4++7", ""), ("12+", ""), ("(15)", ""),
    ("6,12", ""), ("AU", ""),
]
ROMAN_NUMBER = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7}


@pytest.mark.parametrize("text,expected", HAND_CLASSES)
def test_au_string_class_written_by_hand(text, expected):
    if expected:
        assert objective.classify(text)[0] == ROMAN_NUMBER[expected]
    else:
        with pytest.raises(ValueError):
            objective.classify(text)


def test_derived_classes_through_the_cli_match_the_hand_table(tmp_path, capsys):
    """A sheet of the literal AU strings, indexed with --derive-classes: every
    clip lands in its hand-written class, or is excluded as a bad AU string."""
    root = tmp_path / "c"
    rows = []
    for i, (text, _) in enumerate(HAND_CLASSES):
        clip = "EP%02d_%02d" % (i // 7 + 1, i % 7 + 1)
        rows.append([1, clip, 1, 2, 3, text, "others"])
        fx.write_frames(str(root / "Cropped" / "sub01" / clip),
                        ["reg_img%d.jpg" % n for n in (1, 2, 3)])
    fx.write_sheet(str(root / "CASME2-coding-20190701.csv"),
                   ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame",
                    "Action Units", "Estimated Emotion"], rows)
    out, excluded = tmp_path / "i.csv", tmp_path / "x.csv"
    code, _, stderr = run_index(capsys, "--dataset", "casme2", "--root", root, "--out", out,
                                "--excluded", excluded, "--derive-classes", "--skip-bad")
    assert code == 0, stderr
    got = {r["clip"]: r["objective_class"] for r in read_rows(out)}
    for e in read_rows(excluded):
        got[e["clip"]] = {"class VI (fear)": "VI", "class VII (others)": "VII",
                          "bad AU string": ""}[e["reason"]]
    assert [got[r[1]] for r in rows] == [expected for _, expected in HAND_CLASSES]
