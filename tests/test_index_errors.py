"""Bad input to `index`: every kind gives a clear UserError (exit 1, a message
naming the file, row, option or value, no traceback) or, with --skip-bad, a
counted exclusion with its reason; and nothing is written when it fails."""
import os
import shutil
import subprocess
import sys
from collections import Counter

import pytest

import dataset_fixtures as fx
from dataset_fixtures import read_rows, run_index

SMALL = {1: 3, 2: 2, 3: 3, 4: 2, 5: 2, 6: 1, 7: 2}   # 12 kept clips of 15
SHEET = "CASME2-coding-20190701.xlsx"
NOT_ROOT = pytest.mark.skipif(os.geteuid() == 0, reason="root reads chmod 000 files")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("base")
    return {
        "casme2": (root / "casme2", fx.casme2(str(root / "casme2"), counts=SMALL, subjects=4)),
        "samm": (root / "samm", fx.samm(str(root / "samm"), counts=SMALL, subjects=5,
                                        kept_subjects=4)),
    }


@pytest.fixture
def casme2(base, tmp_path):
    """A fresh copy of a small CASME II tree and its manifest."""
    root, manifest = base["casme2"]
    copy = tmp_path / "casme2"
    shutil.copytree(str(root), str(copy))
    return copy, manifest


def kept_clip(manifest, k=2):
    """A kept clip with an annotated apex (not one of the fixture's quirks)."""
    clips = [c for c in manifest["clips"] if c["class"] <= 5 and c["apex_source"] == "annotated"]
    return clips[k]


def clip_folder(root, clip, top="Cropped"):
    return root / top / ("sub%02d" % clip["subject"]) / clip["clip"]


def outputs(tmp_path):
    return tmp_path / "out" / "index.csv", tmp_path / "out" / "excluded.csv"


def fails(capsys, tmp_path, args, *expected, code=1):
    """Run index with --out/--excluded in a fresh folder; assert the exit
    code, every expected text in the message and that nothing was written."""
    out, excluded = outputs(tmp_path)
    out.parent.mkdir(exist_ok=True)
    argv = list(args)
    if "--out" not in argv:
        argv += ["--out", out]
    if "--excluded" not in argv:
        argv += ["--excluded", excluded]
    got, stdout, stderr = run_index(capsys, *argv)
    assert got == code, stderr
    assert "microattention index: error: " in stderr, stderr
    assert "Traceback" not in stderr
    for text in expected:
        assert text in stderr, (text, stderr)
    assert os.listdir(str(out.parent)) == []       # no output, no temporary file
    return stderr


def succeeds(capsys, tmp_path, args):
    out, excluded = outputs(tmp_path)
    out.parent.mkdir(exist_ok=True)
    code, stdout, stderr = run_index(capsys, *args, "--out", out, "--excluded", excluded)
    assert code == 0, stderr
    return read_rows(out), read_rows(excluded), stdout, stderr


def casme2_args(root, *extra):
    return ["--dataset", "casme2", "--root", root] + list(extra)


# ------------------------------------------------------------------ AU strings
def test_au_string_without_plus_is_an_error_not_au_612(casme2, tmp_path, capsys):
    root, manifest = casme2
    clip = kept_clip(manifest)
    row = fx.edit_sheet(str(root / SHEET), clip["clip"], {"Action Units": "6 12"})
    fails(capsys, tmp_path, casme2_args(root, "--derive-classes"),
          "bad AU string", SHEET, "sheet Sheet1, row %d" % row, "'6 12'",
          "AUs are joined by '+'")
    rows, excluded, _, _ = succeeds(capsys, tmp_path,
                                    casme2_args(root, "--derive-classes", "--skip-bad"))
    bad = [e for e in excluded if e["reason"] == "bad AU string"]
    assert [e["clip"] for e in bad] == [clip["clip"]]
    assert clip["clip"] not in {r["clip"] for r in rows}


def test_unparsable_au_string_with_shipped_classes_is_a_warning(casme2, tmp_path, capsys):
    root, manifest = casme2
    clip = kept_clip(manifest)
    row = fx.edit_sheet(str(root / SHEET), clip["clip"], {"Action Units": "6 12"})
    rows, _, _, stderr = succeeds(capsys, tmp_path, casme2_args(root))
    assert "row %d: Action Units '6 12' cannot be parsed" % row in stderr
    # The shipped class stands, the AU text is kept as written.
    got = [r for r in rows if r["clip"] == clip["clip"]]
    assert [(r["objective_class"], r["au"]) for r in got] == [(fx.ROMAN[clip["class"]],
                                                                "6 12")]


# ------------------------------------------------------------------ outputs
@pytest.mark.parametrize("which", ["sheet", "objective", "same", "found-sheet", "image"])
def test_output_never_overwrites_an_input_or_the_other_output(casme2, tmp_path, capsys,
                                                             which):
    root, manifest = casme2
    sheet = root / SHEET
    objective = root / "CASME2-ObjectiveClasses.xlsx"
    clip = kept_clip(manifest)
    image = clip_folder(root, clip) / ("reg_img%d.jpg" % clip["apex"])
    before = {p: p.read_bytes() for p in (sheet, objective, image)}
    excluded = tmp_path / "x.csv"
    args, expected = {
        "sheet": (["--sheet", sheet, "--out", sheet],
                  ["--out %s is also the input --sheet %s" % (sheet, sheet)]),
        "objective": (["--objective", objective, "--excluded", objective],
                      ["--excluded %s is also the input --objective" % objective]),
        "same": (["--out", excluded, "--excluded", excluded],
                 ["--out %s and --excluded %s are the same file" % (excluded, excluded)]),
        "found-sheet": (["--out", sheet], [SHEET, "is also an input"]),
        "image": (["--out", image], [str(image), "is an image of the index"]),
    }[which]
    fails(capsys, tmp_path, casme2_args(root, *args), *expected)
    assert {p: p.read_bytes() for p in before} == before
    assert not excluded.exists()


def test_output_folder_must_exist(casme2, tmp_path, capsys):
    root, _ = casme2
    missing = tmp_path / "nowhere" / "i.csv"
    fails(capsys, tmp_path, casme2_args(root, "--out", missing), "folder", "does not exist",
          "--out")
    assert not missing.parent.exists()


def test_failure_after_reading_leaves_old_outputs_untouched(casme2, tmp_path, capsys):
    root, manifest = casme2
    out, excluded = outputs(tmp_path)
    out.parent.mkdir()
    out.write_text("old index\n")
    excluded.write_text("old excluded\n")
    shutil.rmtree(str(clip_folder(root, kept_clip(manifest))))
    code, _, stderr = run_index(capsys, *casme2_args(root, "--out", out, "--excluded",
                                                     excluded))
    assert code == 1 and "missing clip folder" in stderr
    assert (out.read_text(), excluded.read_text()) == ("old index\n", "old excluded\n")
    assert sorted(os.listdir(str(out.parent))) == ["excluded.csv", "index.csv"]


# ------------------------------------------------------------------ images
def test_truncated_jpeg_apex_is_unreadable(casme2, tmp_path, capsys):
    root, manifest = casme2
    clip = kept_clip(manifest)
    image = clip_folder(root, clip) / ("reg_img%d.jpg" % clip["apex"])
    data = fx.image_bytes(".jpg", size=64)
    image.write_bytes(data[:len(data) * 2 // 3])   # OpenCV still decodes the top part
    fails(capsys, tmp_path, casme2_args(root), "unreadable image", str(image), "truncated",
          "--skip-bad")
    rows, excluded, _, _ = succeeds(capsys, tmp_path, casme2_args(root, "--skip-bad"))
    assert [e["clip"] for e in excluded if e["reason"] == "unreadable image"] == [clip["clip"]]
    assert len(rows) == manifest["kept"] - 1


def _cli(*argv):
    env = dict(os.environ, PYTHONPATH=str(fx_python()))
    return subprocess.run([sys.executable, "-m", "microattention", "index"] +
                          [str(a) for a in argv], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env)


def fx_python():
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python")


def test_file_name_not_utf8_is_reported_not_a_crash(tmp_path):
    # cv2.imread crashes (SIGSEGV) on such a name: run the real CLI in a child.
    root = tmp_path / "smic"
    fx.smic(str(root), camera="vis", counts={"positive": 2, "negative": 1, "surprise": 1})
    clip = bytes(root / "SMIC" / "VIS" / "s1" / "micro" / "positive") + b"/s1_po_\xff"
    os.makedirs(clip)
    for n in (1, 2, 3):
        with open(clip + b"/image%07d.bmp" % n, "wb") as handle:
            handle.write(fx.image_bytes(".bmp"))
    out, excluded = tmp_path / "i.csv", tmp_path / "x.csv"
    result = _cli("--dataset", "smic", "--root", root, "--camera", "vis", "--out", out)
    stderr = result.stderr.decode("utf-8")
    assert result.returncode == 1, stderr
    assert "file name not UTF-8" in stderr and "s1_po_\\xff/image0000002.bmp" in stderr
    assert "Traceback" not in stderr and not out.exists()
    result = _cli("--dataset", "smic", "--root", root, "--camera", "vis", "--out", out,
                  "--excluded", excluded, "--skip-bad")
    assert result.returncode == 0, result.stderr
    assert len(read_rows(out)) == 4
    bad = [e for e in read_rows(excluded) if e["reason"] == "file name not UTF-8"]
    assert [e["clip"] for e in bad] == ["s1_po_\\xff"]


@NOT_ROOT
def test_unreadable_image_file(casme2, tmp_path, capsys):
    root, manifest = casme2
    clip = kept_clip(manifest)
    image = clip_folder(root, clip) / ("reg_img%d.jpg" % clip["apex"])
    image.chmod(0)
    fails(capsys, tmp_path, casme2_args(root), "unreadable image", str(image),
          "Permission denied")


@NOT_ROOT
def test_unreadable_clip_folder(casme2, tmp_path, capsys):
    root, manifest = casme2
    folder = clip_folder(root, kept_clip(manifest))
    folder.chmod(0)
    try:
        fails(capsys, tmp_path, casme2_args(root), "cannot list the folder", str(folder),
              "Permission denied")
    finally:
        folder.chmod(0o755)


@NOT_ROOT
def test_unreadable_sheet(casme2, tmp_path, capsys):
    root, _ = casme2
    (root / SHEET).chmod(0)
    fails(capsys, tmp_path, casme2_args(root), SHEET, "Permission denied")


# ------------------------------------------------------------------ sheets
def test_sheet_with_header_and_no_rows(tmp_path, capsys):
    root = tmp_path / "c"
    manifest = fx.casme2(str(root), counts={1: 2}, subjects=1)
    for clip in manifest["clips"]:
        fx.edit_sheet(str(root / SHEET), clip["clip"], delete=True)
    fails(capsys, tmp_path, casme2_args(root), SHEET, "sheet Sheet1",
          "coding sheet has a header on row 1 but no rows")


def test_objective_sheet_with_header_and_no_rows(casme2, tmp_path, capsys):
    root, manifest = casme2
    objective = root / "CASME2-ObjectiveClasses.xlsx"
    fx.write_sheet(str(objective), ["Subject", "Filename", "Objective Class"], [])
    fails(capsys, tmp_path, casme2_args(root), str(objective), "objective-class sheet",
          "no rows")


@pytest.mark.parametrize("edit,reason,shown", [
    ({"OnsetFrame": 99, "OffsetFrame": 90}, "onset after offset", "onset 99 > offset 90"),
    ({"OnsetFrame": "12a"}, "bad frame number", "OnsetFrame '12a' is not a frame number"),
    ({"ApexFrame": "4.5"}, "bad frame number", "ApexFrame '4.5' is not a frame number"),
])
def test_bad_frame_numbers(casme2, tmp_path, capsys, edit, reason, shown):
    root, manifest = casme2
    clip = kept_clip(manifest)
    row = fx.edit_sheet(str(root / SHEET), clip["clip"], edit)
    fails(capsys, tmp_path, casme2_args(root), reason, "row %d" % row, shown)
    _, excluded, _, _ = succeeds(capsys, tmp_path, casme2_args(root, "--skip-bad"))
    assert [(e["clip"], e["reason"]) for e in excluded if e["reason"] == reason] == \
        [(clip["clip"], reason)]


def test_apex_outside_onset_offset(casme2, tmp_path, capsys):
    root, manifest = casme2
    clip = kept_clip(manifest)
    # The apex frame is stored but the sheet's own onset comes after it.
    onset = clip["apex"] + 1
    row = fx.edit_sheet(str(root / SHEET), clip["clip"], {"OnsetFrame": onset})
    fails(capsys, tmp_path, casme2_args(root), "apex outside onset..offset", "row %d" % row,
          "onset %d, apex %d, offset %d" % (onset, clip["apex"], clip["offset"]))


def test_missing_required_column_is_named(casme2, tmp_path, capsys):
    root, _ = casme2
    fx.edit_sheet(str(root / SHEET), None, rename={"ApexFrame": "Peak"})
    fails(capsys, tmp_path, casme2_args(root), SHEET, "sheet Sheet1",
          "header on row 1 has no column 'ApexFrame'")


def test_missing_au_column_when_deriving_classes(casme2, tmp_path, capsys):
    root, _ = casme2
    fx.edit_sheet(str(root / SHEET), None, rename={"Action Units": "Notes"})
    fails(capsys, tmp_path, casme2_args(root, "--derive-classes"), SHEET,
          "no column 'Action Units'", "derive")


def test_duplicated_row(tmp_path, capsys):
    root = tmp_path / "c"
    manifest = fx.casme2(str(root), counts={1: 3}, subjects=1)
    first, second = manifest["clips"][1], manifest["clips"][2]
    row = fx.edit_sheet(str(root / SHEET), second["clip"], {"Filename": first["clip"]})
    fails(capsys, tmp_path, casme2_args(root), "duplicate row", "row %d" % row,
          "sub01/%s is already on row %d" % (first["clip"], row - 1))


@pytest.mark.parametrize("content,expected", [
    (b"Subject,Filename\n1,EP02_01f\n", "not a zip file"),
    (None, "cannot read the workbook"),
])
def test_xlsx_that_is_not_a_workbook(casme2, tmp_path, capsys, content, expected):
    root, _ = casme2
    sheet = root / SHEET
    data = sheet.read_bytes()
    sheet.write_bytes(content if content is not None else data[:len(data) // 2])
    fails(capsys, tmp_path, casme2_args(root), SHEET, "cannot read the workbook", expected)


def _csv_tree(tmp_path, delimiter=",", encode="utf-8", note="ok"):
    root = tmp_path / "c"
    manifest = fx.casme2(str(root), counts={1: 2, 3: 2}, subjects=2,
                         sheet_name="CASME2-coding-x.csv")
    path = root / "CASME2-coding-x.csv"
    text = path.read_text().replace(",", delimiter)
    text = text.replace("happiness", "happiness " + note, 1)
    path.write_bytes(text.encode(encode))
    return root, manifest, path


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_csv_sheet_with_semicolons_or_tabs_is_read(tmp_path, capsys, delimiter):
    root, manifest, _ = _csv_tree(tmp_path, delimiter)
    rows, _, _, _ = succeeds(capsys, tmp_path, casme2_args(root))
    assert sorted(r["clip"] for r in rows) == sorted(c["clip"] for c in manifest["clips"])


def test_csv_sheet_with_unknown_delimiter_names_the_columns(tmp_path, capsys):
    root, _, path = _csv_tree(tmp_path, "|")
    fails(capsys, tmp_path, casme2_args(root), path.name, "'Subject', 'Filename', 'ApexFrame'")


def test_csv_sheet_in_latin1(tmp_path, capsys):
    root, _, path = _csv_tree(tmp_path, note="caf\u00e9", encode="latin-1")
    fails(capsys, tmp_path, casme2_args(root), path.name, "line 2", "byte 0xe9",
          "not UTF-8", "CSV UTF-8")


# ------------------------------------------------------------------ folders
def test_missing_root(tmp_path, capsys):
    fails(capsys, tmp_path, casme2_args(tmp_path / "absent"), "casme2: --root",
          "absent does not exist")


def test_root_is_a_file(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    fails(capsys, tmp_path, casme2_args(path), "--root %s is not a directory" % path)


def test_subject_folder_missing(casme2, tmp_path, capsys):
    root, manifest = casme2
    shutil.rmtree(str(root / "Cropped" / "sub03"))
    lost = sorted(c["clip"] for c in manifest["clips"] if c["subject"] == 3 and c["class"] <= 5)
    stderr = fails(capsys, tmp_path, casme2_args(root), "%d problem(s)" % len(lost),
                   "missing clip folder", "Cropped/sub03/")
    assert all(clip in stderr for clip in lost)
    rows, excluded, _, _ = succeeds(capsys, tmp_path, casme2_args(root, "--skip-bad"))
    assert sorted(e["clip"] for e in excluded if e["reason"] == "missing clip folder") == lost
    assert len(rows) == manifest["kept"] - len(lost)


def test_empty_clip_folder(casme2, tmp_path, capsys):
    root, manifest = casme2
    folder = clip_folder(root, kept_clip(manifest))
    for name in os.listdir(str(folder)):
        os.remove(str(folder / name))
    fails(capsys, tmp_path, casme2_args(root), "no frames", "no images in %s" % folder)


def test_no_usable_sample_is_an_error(tmp_path, capsys):
    root = tmp_path / "smic"
    fx.smic(str(root), camera="vis", counts={"positive": 1, "negative": 1, "surprise": 1})
    for path in sorted((root / "SMIC" / "VIS").glob("s*/micro")):
        shutil.rmtree(str(path))
    fails(capsys, tmp_path, ["--dataset", "smic", "--root", root, "--camera", "vis"],
          "SMIC: no usable sample", "0 clip(s) seen")


# ------------------------------------------------------------------ options
def test_dataset_given_twice(casme2, tmp_path, capsys):
    root, _ = casme2
    other = tmp_path / "other"
    other.mkdir()
    fails(capsys, tmp_path, casme2_args(root) + casme2_args(other),
          "--dataset casme2 is given twice", str(root), str(other))


@pytest.mark.parametrize("option", ["--sheet", "--objective"])
def test_sheet_options_for_a_dataset_without_sheets(tmp_path, capsys, option):
    root = tmp_path / "smic"
    fx.smic(str(root), camera="vis", counts={"positive": 1, "negative": 1, "surprise": 1})
    fails(capsys, tmp_path, ["--dataset", "smic", "--root", root, option, tmp_path / "s.xlsx"],
          option, "casme2 and samm only")


def test_mug_apex_without_mug(casme2, tmp_path, capsys):
    root, _ = casme2
    fails(capsys, tmp_path, casme2_args(root, "--mug-apex", tmp_path / "a.csv"),
          "--mug-apex is for --dataset mug only")


# ------------------------------------------------------------------ MUG apex file
@pytest.fixture
def mug(tmp_path):
    root = tmp_path / "mug"
    manifest = fx.mug(str(root), images=24, subjects=2, dropped=(("fear", 1),))
    return root, manifest


def mug_args(root, apex):
    return ["--dataset", "mug", "--root", root, "--mug-apex", apex, "--mug-frames", "3"]


def test_mug_apex_keys_are_matched_numerically(mug, tmp_path, capsys):
    root, _ = mug
    apex = tmp_path / "apex.csv"
    # 001/anger/take000 written as 1/Anger/0 and 002/anger/take000 as 02/anger/take0.
    apex.write_text("subject,expression,take,apex\n1,Anger,0,30\n02,anger,take0,40\n"
                    "1,fear,take000,5\n")
    rows, _, stdout, _ = succeeds(capsys, tmp_path, mug_args(root, apex))
    frames = {}
    for row in rows:
        if row["apex_source"] == "annotated":
            frames.setdefault(row["clip"], []).append(int(row["frame"]))
    assert frames == {"001_anger_take000": [29, 30, 31], "002_anger_take000": [39, 40, 41]}
    assert "apex of 2 clip(s) from apex.csv, middle frame for the others" in stdout


@pytest.mark.parametrize("content,expected", [
    ("subject,expression,take,apex\n007,anger,take000,3\n1,sadness,take000,9\n",
     ["none of its 2 row(s) matches a clip folder", "row 2 (subject 7, expression anger, "
      "take 0)", "row 3 (subject 1, expression sadness, take 0)"]),
    ("subject,expression,apex\n001,anger,3\n", ["no column take"]),
    ("subject,expression,take,apex\n001,anger,take000,3a\n", ["row 2", "'3a'"]),
    ("subject,expression,take,apex\n001,anger,take000,3\n1,anger,0,4\n",
     ["row 3", "already on row 2"]),
    ("subject,expression,take,apex\n", ["header but no rows"]),
    ("subject,expression,take,apex\n001,anger,take000,3,9\n",
     ["row 2: more cells than the header has columns"]),
    ("subject,expression,take,apex\n\n\n001,anger,take000,3x\n", ["row 4", "'3x'"]),
    (b"subject,expression,take,apex\n001,anger\xe9,take000,3\n",
     ["line 2: byte 0xe9 is not UTF-8"]),
    (None, ["no such file"]),
    ("DIR", ["not a file"]),
])
def test_mug_apex_file_errors(mug, tmp_path, capsys, content, expected):
    root, _ = mug
    apex = tmp_path / "apex.csv"
    if content == "DIR":
        apex.mkdir()
    elif isinstance(content, bytes):
        apex.write_bytes(content)
    elif content is not None:
        apex.write_text(content)
    fails(capsys, tmp_path, mug_args(root, apex), "--mug-apex", str(apex), *expected)


def test_mug_apex_rows_matching_no_clip_are_a_warning(mug, tmp_path, capsys):
    """Some rows naming no clip (a file for a larger copy): a warning naming
    the file and the rows, the first 10 and a count; the matching row is used."""
    root, _ = mug
    apex = tmp_path / "apex.csv"
    apex.write_text("subject,expression,take,apex\n001,anger,take000,30\n" + "".join(
        "%d,anger,take000,3\n" % s for s in range(7, 19)))
    rows, _, stdout, stderr = succeeds(capsys, tmp_path, mug_args(root, apex))
    assert ("warning: MUG: --mug-apex %s: 12 of 13 row(s) match no clip folder" % apex
            in stderr), stderr
    assert "row 3 (subject 7, expression anger, take 0)" in stderr
    assert "row 12 (subject 16, expression anger, take 0)" in stderr
    assert "subject 17" not in stderr and "... and 2 more" in stderr
    assert "apex of 1 clip(s) from apex.csv" in stdout
    assert {r["clip"] for r in rows if r["apex_source"] == "annotated"} == {"001_anger_take000"}


def test_mug_apex_frame_missing_inside_the_clip(mug, tmp_path, capsys):
    root, _ = mug
    folder = root / "subjects3" / "001" / "anger" / "take000"
    (folder / "img_0030.jpg").unlink()
    apex = tmp_path / "apex.csv"
    apex.write_text("subject,expression,take,apex\n001,anger,take000,30\n")
    fails(capsys, tmp_path, mug_args(root, apex), "apex outside stored frames",
          "apex frame 30 is missing from the stored frames 1..80 of %s" % folder)
    apex.write_text("subject,expression,take,apex\n001,anger,take000,95\n")
    fails(capsys, tmp_path, mug_args(root, apex), "apex outside stored frames",
          "apex 95, but %s holds frames 1..80" % folder)


@pytest.mark.parametrize("where", ["inside", "after"])
def test_apex_frame_missing_from_the_stored_frames(casme2, tmp_path, capsys, where):
    """A gap at the apex inside the stored range is a missing frame; an apex
    beyond the stored frames is outside them. The reason stays the same."""
    root, manifest = casme2
    clip = kept_clip(manifest)
    folder = clip_folder(root, clip)
    low, high = clip["onset"], clip["offset"]
    if where == "inside":
        (folder / ("reg_img%d.jpg" % clip["apex"])).unlink()
        detail = ("apex frame %d is missing from the stored frames %d..%d of %s"
                  % (clip["apex"], low, high, folder))
    else:
        for n in range(clip["apex"], high + 1):
            (folder / ("reg_img%d.jpg" % n)).unlink()
        detail = "apex %d, but %s holds frames %d..%d" % (clip["apex"], folder, low,
                                                          clip["apex"] - 1)
    fails(capsys, tmp_path, casme2_args(root), "apex outside stored frames", detail)
    _, excluded, _, _ = succeeds(capsys, tmp_path, casme2_args(root, "--skip-bad"))
    assert [(r["clip"], r["reason"]) for r in excluded if detail in r["detail"]] == [
        (clip["clip"], "apex outside stored frames")]


def test_folder_in_place_of_the_apex_image(casme2, tmp_path, capsys):
    root, manifest = casme2
    clip = kept_clip(manifest)
    image = clip_folder(root, clip) / ("reg_img%d.jpg" % clip["apex"])
    image.unlink()
    image.mkdir()
    fails(capsys, tmp_path, casme2_args(root), "missing image: %s is a folder, not an image "
          "file" % image)
    _, excluded, _, _ = succeeds(capsys, tmp_path, casme2_args(root, "--skip-bad"))
    assert [r["reason"] for r in excluded if r["clip"] == clip["clip"]] == ["missing image"]


# ------------------------------------------------------------------ CK+, JAFFE
@pytest.mark.parametrize("content,expected", [
    (b"   9.0000000e+00\n", "emotion code '9.0000000e+00' is not one of 0-7"),
    (b"9\n", "emotion code '9' is not one of 0-7"),
    (b"3.5\n", "emotion code '3.5' is not one of 0-7"),
    (b"   3.0000000e+00   5.0000000e+00\n", "found 2 word(s)"),
    (b"", "found 0 word(s)"),
    (b"happy\n", "found 'happy'"),
    (b"\xe9\n", "not a text file"),
])
def test_ckplus_bad_emotion_file(tmp_path, capsys, content, expected):
    root = tmp_path / "ck"
    fx.ckplus(str(root), counts={5: 2, 7: 1}, unlabelled=0, subjects=3)
    label = next((root / "Emotion" / "S006" / "001").iterdir())
    label.write_bytes(content)
    fails(capsys, tmp_path, ["--dataset", "ckplus", "--root", root], "bad label file",
          label.name, expected)


@pytest.mark.parametrize("text,label", [("   3.0000000e+00\n", "disgust"), ("5\n", "happiness"),
                                        ("7.0\n", "surprise")])
def test_ckplus_emotion_number_formats(tmp_path, capsys, text, label):
    root = tmp_path / "ck"
    fx.ckplus(str(root), counts={1: 1}, unlabelled=0, subjects=1)
    next((root / "Emotion" / "S005" / "001").iterdir()).write_text(text)
    rows, _, _, _ = succeeds(capsys, tmp_path, ["--dataset", "ckplus", "--root", root])
    assert {r["label"] for r in rows} == {label} and len(rows) == 3


def test_ckplus_two_label_files(tmp_path, capsys):
    root = tmp_path / "ck"
    fx.ckplus(str(root), counts={5: 2}, unlabelled=0, subjects=2)
    folder = root / "Emotion" / "S006" / "001"
    (folder / "S006_001_00000002_emotion.txt").write_text("1\n")
    fails(capsys, tmp_path, ["--dataset", "ckplus", "--root", root], "several label files",
          "S006_001_00000002_emotion.txt")


@pytest.mark.parametrize("name", ["KA-AN1-40.tiff", "KA.AN1.40.png", "KAAN1.40.tiff"])
def test_jaffe_name_not_matching_the_pattern(tmp_path, capsys, name):
    root = tmp_path / "j"
    fx.jaffe(str(root), counts={"HA": 2, "SU": 1})
    fx.write_image(str(root / name))
    fails(capsys, tmp_path, ["--dataset", "jaffe", "--root", root], "unexpected file name",
          name, "expected like KA.AN1.39.tiff")
    rows, excluded, _, _ = succeeds(capsys, tmp_path,
                                    ["--dataset", "jaffe", "--root", root, "--skip-bad"])
    assert len(rows) == 3
    assert Counter(e["reason"] for e in excluded) == {"unexpected file name": 1}


# ------------------------------------------------------------------ error type
def test_readers_raise_the_shared_user_error_without_the_cli(tmp_path):
    """The readers' errors are microattention.errors.UserError, raised below
    the CLI (which only prints them)."""
    from microattention.datasets import mug as mug_reader, sheets
    from microattention.errors import UserError
    sheet = tmp_path / "s.csv"
    sheet.write_bytes(b"Subject,Filename,ApexFrame\n1,EP\xe9,3\n")
    with pytest.raises(UserError, match="line 2: byte 0xe9"):
        sheets.read_table(str(sheet), {"subject": ["Subject"], "filename": ["Filename"],
                                       "apex": ["ApexFrame"]}, ["subject", "filename", "apex"])
    with pytest.raises(UserError, match="no such file"):
        mug_reader.read_apex(str(tmp_path / "absent.csv"))


# ------------------------------------------------- issue 17 item 9: the remaining kinds

def test_two_frame_files_with_one_frame_number(casme2, tmp_path, capsys):
    """img46 and img046 are both frame 46: which one is the apex would depend
    on the listing order."""
    root, manifest = casme2
    clip = kept_clip(manifest)
    folder = clip_folder(root, clip)
    shutil.copy(str(folder / ("reg_img%d.jpg" % clip["apex"])),
                str(folder / ("reg_img%03d.jpg" % clip["apex"])))
    fails(capsys, tmp_path, casme2_args(root), "duplicate frame number", str(folder),
          "reg_img%03d.jpg and reg_img%d.jpg are both frame %d"
          % (clip["apex"], clip["apex"], clip["apex"]))
    _, excluded, _, _ = succeeds(capsys, tmp_path, casme2_args(root, "--skip-bad"))
    assert [(e["clip"], e["reason"]) for e in excluded if e["reason"] != "class VI (fear)"
            and not e["reason"].startswith("class VII")] == \
        [(clip["clip"], "duplicate frame number")]


def test_two_frame_files_with_one_number_in_a_set_without_sheet(tmp_path, capsys):
    root = tmp_path / "smic"
    manifest = fx.smic(str(root), camera="vis")
    clip = manifest["clips"][0]
    folder = root / "SMIC" / "VIS" / clip["subject"] / "micro" / clip["label"] / clip["clip"]
    n = clip["frames"][0]
    shutil.copy(str(folder / ("image%07d.bmp" % n)), str(folder / ("image%d.bmp" % n)))
    fails(capsys, tmp_path, ["--dataset", "smic", "--root", root, "--camera", "vis"],
          "duplicate frame number", "are both frame %d" % n)


def test_empty_class_folder(tmp_path, capsys):
    root = tmp_path / "smic"
    manifest = fx.smic(str(root), camera="vis")
    clip = manifest["clips"][0]
    class_dir = root / "SMIC" / "VIS" / clip["subject"] / "micro" / clip["label"]
    for name in os.listdir(str(class_dir)):
        shutil.rmtree(str(class_dir / name))
    fails(capsys, tmp_path, ["--dataset", "smic", "--root", root, "--camera", "vis"],
          "empty class folder", "%s holds no clip folder" % class_dir)


def test_empty_expression_folder_of_mug(tmp_path, capsys):
    root = tmp_path / "mug"
    fx.mug(str(root), images=60, subjects=2)
    subject = root / "subjects3" / "001"
    expression = subject / sorted(os.listdir(str(subject)))[0]
    shutil.rmtree(str(expression))
    expression.mkdir()
    fails(capsys, tmp_path, ["--dataset", "mug", "--root", root], "empty class folder",
          "%s holds no take folder and no image" % expression)


def test_clip_folder_that_is_a_symlink_loop(casme2, tmp_path, capsys):
    root, manifest = casme2
    folder = clip_folder(root, kept_clip(manifest))
    shutil.rmtree(str(folder))
    os.symlink(folder.name, str(folder))           # points at itself
    err = fails(capsys, tmp_path, casme2_args(root), str(folder), "symbolic-link loop")
    assert "missing clip folder" not in err


def test_clip_folder_that_is_a_symlink_loop_in_a_set_without_sheet(tmp_path, capsys):
    root = tmp_path / "smic"
    manifest = fx.smic(str(root), camera="vis")
    clip = manifest["clips"][0]
    folder = root / "SMIC" / "VIS" / clip["subject"] / "micro" / clip["label"] / clip["clip"]
    shutil.rmtree(str(folder))
    os.symlink(folder.name, str(folder))
    fails(capsys, tmp_path, ["--dataset", "smic", "--root", root, "--camera", "vis"],
          str(folder), "symbolic-link loop")


@NOT_ROOT
def test_unreadable_folder_is_not_reported_as_missing(casme2, tmp_path, capsys):
    root, manifest = casme2
    subject = clip_folder(root, kept_clip(manifest)).parent
    subject.chmod(0)
    try:
        err = fails(capsys, tmp_path, casme2_args(root), "permission denied", str(subject))
        assert "missing clip folder" not in err
    finally:
        subject.chmod(0o755)


@NOT_ROOT
def test_root_below_an_unreadable_folder_is_not_reported_as_missing(casme2, tmp_path, capsys):
    root, _ = casme2
    root.chmod(0)
    try:
        err = fails(capsys, tmp_path, casme2_args(root / "Cropped"), "permission denied")
        assert "does not exist" not in err
    finally:
        root.chmod(0o755)


@NOT_ROOT
def test_sheet_search_through_an_unreadable_folder(tmp_path, capsys):
    """The coding sheet sits in a folder that cannot be listed: "not found"
    would send the user looking for a file that is there."""
    root = tmp_path / "c"
    fx.casme2(str(root), counts={1: 2}, subjects=1)
    hidden = root / "sheets"
    hidden.mkdir()
    os.rename(str(root / SHEET), str(hidden / SHEET))
    hidden.chmod(0)
    try:
        fails(capsys, tmp_path, casme2_args(root), "could not be read", str(hidden))
    finally:
        hidden.chmod(0o755)


def test_formula_without_a_stored_result(casme2, tmp_path, capsys):
    """openpyxl (and pandas) write formulas without their result; read as
    values the cell is empty, and the apex would become the midpoint."""
    root, manifest = casme2
    clip = kept_clip(manifest)
    row = fx.edit_sheet(str(root / SHEET), clip["clip"], {"ApexFrame": "=D%d+2" % 5})
    fails(capsys, tmp_path, casme2_args(root), SHEET, "sheet Sheet1",
          "row %d, cell E%d (ApexFrame): =D5+2" % (row, row), "formula without a stored result")


def test_formula_with_a_stored_result_is_read(casme2, tmp_path, capsys):
    """The value Excel saved with a formula is what counts."""
    import openpyxl
    root, manifest = casme2
    clip = kept_clip(manifest)
    row = fx.edit_sheet(str(root / SHEET), clip["clip"], {"ApexFrame": "=D2"})
    # Write the cached value into the XML the way Excel does: <f>D2</f><v>N</v>.
    import zipfile
    path = str(root / SHEET)
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    xml = parts[sheet].decode()
    assert "<f>D2</f><v></v>" in xml or "<f>D2</f><v />" in xml, xml[:300]
    xml = xml.replace("<f>D2</f><v></v>", "<f>D2</f><v>%d</v>" % clip["apex"]) \
        .replace("<f>D2</f><v />", "<f>D2</f><v>%d</v>" % clip["apex"])
    parts[sheet] = xml.encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    assert openpyxl.load_workbook(path, data_only=True).active.cell(row, 5).value == clip["apex"]
    rows, _, _, _ = succeeds(capsys, tmp_path, casme2_args(root))
    assert [r["frame"] for r in rows if r["clip"] == clip["clip"]] == [str(clip["apex"])]


def test_misspelt_emotion_is_a_warning_naming_row_and_word(casme2, tmp_path, capsys):
    root, manifest = casme2
    clip = kept_clip(manifest)
    row = fx.edit_sheet(str(root / SHEET), clip["clip"], {"Estimated Emotion": "hapiness"})
    rows, _, stdout, stderr = succeeds(capsys, tmp_path, casme2_args(root))
    assert "row %d: Estimated Emotion 'hapiness' is not one of" % row in stdout + stderr
    assert len(rows) == manifest["kept"]


def test_negative_apex_other_than_minus_one_is_an_error(casme2, tmp_path, capsys):
    """SAMM's -1 means 'no apex coded'; -46 is a stray minus sign, not a
    reason to take the midpoint."""
    root, manifest = casme2
    clip = kept_clip(manifest)
    row = fx.edit_sheet(str(root / SHEET), clip["clip"], {"ApexFrame": -clip["apex"]})
    fails(capsys, tmp_path, casme2_args(root), "bad frame number", "row %d" % row,
          "ApexFrame '-%d' is not a frame number (only -1 means not coded)" % clip["apex"])


def test_objective_sheet_whose_keys_match_no_clip(casme2, tmp_path, capsys):
    root, manifest = casme2
    objective = root / "CASME2-ObjectiveClasses.xlsx"
    fx.write_sheet(str(objective), ["Subject", "Filename", "Objective Class"],
                   [[90 + i, "EP0%d_01" % i, 1] for i in range(3)])
    err = fails(capsys, tmp_path, casme2_args(root), str(objective),
                "none of its 3 subject/filename keys matches a clip", "sub90/EP00_01")
    assert "no objective class" not in err


@NOT_ROOT
def test_an_unrelated_unreadable_folder_does_not_stop_the_search(tmp_path, capsys):
    """Looking for Cropped/ first and then CASME2_RAW_selected/ goes on past
    a folder that cannot be read (lost+found of a mounted disk)."""
    root = tmp_path / "c"
    manifest = fx.casme2(str(root), counts={1: 2, 2: 1}, subjects=1, frames=("raw",))
    closed = root / "lost+found"
    closed.mkdir()
    closed.chmod(0)
    try:
        rows, _, _, _ = succeeds(capsys, tmp_path, casme2_args(root))
    finally:
        closed.chmod(0o755)
    assert len(rows) == manifest["kept"]
