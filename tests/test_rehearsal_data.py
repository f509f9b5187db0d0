"""demo-data --rehearsal: a small copy of all seven databases in their
released layouts. The same seed gives the same bytes (and another seed other
images: the control); `index` reads every database with the options the
manifest names and gives the clips, subjects and classes the manifest lists;
`faces` finds the faces of a sample of frames (and not on a blank frame: the
control); the people behind the frames `index` read are one subject each,
and the micro people are not macro people (checked through the frames'
folders, not the subject ids, with a leak built in on purpose as control)."""
import csv
import hashlib
import json
import os
import posixpath

import pytest

from dataset_fixtures import read_rows
from microattention import cli
from microattention.demo import checks
from microattention.demo.data import people

pytest.importorskip("cv2")
pytest.importorskip("menpo")

# The test's own statement of the seven sets, which are micro-expression
# sets (LOSO, HDE, CDE) and which macro (pre-training), and the classes the
# protocols need in each micro set.
DATASETS = ("casme2", "samm", "smic", "ckplus", "oulu", "jaffe", "mug")
MICRO = ("casme2", "samm", "smic")
FIVE = {"happiness", "surprise", "anger", "disgust", "sadness"}
MICRO_CLASSES = {"casme2": FIVE, "samm": FIVE, "smic": {"positive", "negative", "surprise"}}
IMAGES = (".jpg", ".jpeg", ".png", ".bmp", ".tiff")


def generate(out, *extra):
    assert cli.main(["demo-data", "--rehearsal", "--out", str(out)] + list(extra)) == 0
    with open(os.path.join(str(out), "demo-data.json")) as handle:
        return json.load(handle)


def checksums(root):
    found = {}
    for folder, _, names in os.walk(str(root)):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, str(root))] = hashlib.sha256(
                    handle.read()).hexdigest()
    return found


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("rehearsal")
    return base, generate(base / "data", "--jobs", "1")


@pytest.fixture(scope="module")
def indexes(tree):
    """{dataset: index rows}, each read with the options the manifest names."""
    base, manifest = tree
    found = {}
    for dataset in DATASETS:
        options = manifest["index_options"][dataset]
        options = [str(base / "data" / o) if o.endswith(".csv") else o for o in options]
        out = base / ("%s.csv" % dataset)
        assert cli.main(["index", "--dataset", dataset, "--root", str(base / "data" / dataset),
                         "--out", str(out)] + options) == 0
        found[dataset] = read_rows(str(out))
    return found


def test_same_seed_same_bytes_and_another_seed_other_images(tree, tmp_path):
    base, _ = tree
    first = checksums(base / "data")
    assert set(DATASETS) <= {p.split(os.sep)[0] for p in first}
    # forked workers write the same bytes as one process
    generate(tmp_path / "again", "--jobs", "2")
    assert checksums(tmp_path / "again") == first
    generate(tmp_path / "other", "--seed", "2", "--jobs", "1")
    other = checksums(tmp_path / "other")
    shared = [p for p in set(first) & set(other) if p.lower().endswith(IMAGES)]
    assert len(shared) > 100
    assert all(first[p] != other[p] for p in shared)


def test_index_reads_every_database_as_the_manifest_lists_it(tree, indexes):
    _, manifest = tree
    assert sorted(manifest["datasets"]) == sorted(DATASETS)
    for dataset in DATASETS:
        rows = indexes[dataset]
        # samples the paper does not use are in the tree, not in the index
        clips = [c for c in manifest["datasets"][dataset] if c["rows"]]
        assert all(c["excluded"] for c in manifest["datasets"][dataset] if not c["rows"])
        per_clip = {}   # clip names repeat across subjects (CASME II's EP01_01)
        for row in rows:
            key = (row["subject"], row["clip"])
            per_clip[key] = per_clip.get(key, 0) + 1
        assert per_clip == {(c["subject"], c["clip"]): c["rows"] for c in clips}, dataset
        assert {(r["subject"], r["clip"], r["label"]) for r in rows} == \
            {(c["subject"], c["clip"], c["label"]) for c in clips}, dataset
        subjects = {r["subject"] for r in rows}
        if dataset in MICRO:
            # every subject shows every class: LOSO folds test each class
            assert len(subjects) >= 3, dataset
            for subject in subjects:
                assert {r["label"] for r in rows if r["subject"] == subject} == \
                    MICRO_CLASSES[dataset], (dataset, subject)
        else:
            assert len(subjects) >= 2 and {r["label"] for r in rows} == FIVE, dataset
    for dataset in ("casme2", "samm"):
        classes = {(c["subject"], c["clip"]): c["class"] for c in manifest["datasets"][dataset]}
        assert all(r["objective_class"] == classes[r["subject"], r["clip"]]
                   for r in indexes[dataset])
    # MUG's apex file is used: every clip's frames are centred on its apex
    apex = {c["clip"]: c["apex"] for c in manifest["datasets"]["mug"] if c["rows"]}
    assert {r["apex_source"] for r in indexes["mug"]} == {"annotated"}
    for clip, frame in apex.items():
        assert frame in {int(r["frame"]) for r in indexes["mug"] if r["clip"] == clip}


def test_faces_finds_the_faces_of_a_sample(tree, indexes, tmp_path):
    sample = [indexes[d][len(indexes[d]) // 2] for d in DATASETS]
    # control: a blank frame holds no face
    import cv2
    import numpy as np
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((160, 160), 128, np.uint8))
    blank = dict(sample[-1], subject="999", clip="blank", frame_path="blank.png",
                 root=str(tmp_path))
    path = tmp_path / "sample.csv"
    with open(str(path), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(sample[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(sample + [blank])
    cli.main(["faces", "--index", str(path), "--out", str(tmp_path / "faces"),
              "--landmarks", "dlib", "--no-progress", "--skip-bad"])
    status = [r["status"] for r in read_rows(str(tmp_path / "faces" / "faces.csv"))]
    assert status[:-1] == ["ok"] * len(DATASETS)
    assert status[-1] != "ok"


def people_behind(manifest, rows_of):
    """({(dataset, subject): persons}, {person: {(dataset, subject)}},
    {person: photographs}) of index rows, the person of each row found
    through its frame's folder (JAFFE: its file) in the manifest."""
    by_subject, by_person, photos = {}, {}, {}
    for dataset, rows in rows_of.items():
        where = {c.get("folder") or c["file"]: c for c in manifest["datasets"][dataset]}
        for row in rows:
            path = row["frame_path"].replace("\\", "/")
            clip = where.get(posixpath.dirname(path)) or where[path]
            person, key = clip["person"], (dataset, row["subject"])
            by_subject.setdefault(key, set()).add(person)
            by_person.setdefault(person, set()).add(key)
            # the photograph's file and crop box (a mirror image: its original's)
            record = manifest["photos"][clip["view"]]
            photos.setdefault(person, set()).add(
                (record["source"], record["member"], tuple(record["crop"] or ()) or None))
    return by_subject, by_person, photos


def shared_people(manifest, rows_of):
    """What the micro and macro sets share: subjects of several persons,
    persons under several subjects, persons and photographs in both."""
    by_subject, by_person, photos = people_behind(manifest, rows_of)
    problems = ["subject %s shows %s" % (k, sorted(v)) for k, v in by_subject.items()
                if len(v) > 1]
    problems += ["%s is %s" % (p, sorted(v)) for p, v in by_person.items() if len(v) > 1]
    micro = {p for p, keys in by_person.items() if any(d in MICRO for d, _ in keys)}
    macro = {p for p, keys in by_person.items() if any(d not in MICRO for d, _ in keys)}
    problems += ["%s is micro and macro" % p for p in sorted(micro & macro)]
    # bald-a..d are tiles of one collage: photographs overlap when their
    # boxes in one file do (checks.same_photograph)
    problems += ["photograph %s of %s overlaps %s of %s" % (one, p, other, q)
                 for p in sorted(micro) for one in photos[p]
                 for q in sorted(macro) for other in photos[q]
                 if checks.same_photograph(one, other)]
    return problems, micro, macro


def test_micro_and_macro_people_are_disjoint(tree, indexes):
    _, manifest = tree
    problems, micro, macro = shared_people(manifest, indexes)
    assert problems == [] and len(micro) >= 9 and len(macro) >= 8
    # each view is one of the person's own photographs (or its mirror image)
    for dataset in DATASETS:
        for clip in manifest["datasets"][dataset]:
            assert manifest["photos"][clip["view"]]["member"] in {
                p.member for p in people.PEOPLE[clip["person"]].photos}, clip["view"]
    # controls: a macro person's photograph overlapping a micro one's is
    # caught; a micro clip's frames filed in a macro set are caught, by the
    # frame's folder although the subject id is the macro one
    leaky = dict(indexes)
    micro_row = indexes["samm"][0]
    leaky["mug"] = indexes["mug"] + [dict(indexes["mug"][0], frame_path=micro_row["frame_path"])]
    with pytest.raises(KeyError):
        shared_people(manifest, leaky)   # a SAMM folder is not a MUG clip
    moved = json.loads(json.dumps(manifest))
    micro_view = manifest["datasets"]["samm"][0]["view"]
    for clip in moved["datasets"]["mug"]:
        moved["photos"][clip["view"]] = dict(moved["photos"][micro_view])
    problems, _, _ = shared_people(moved, indexes)
    assert any("overlaps" in p for p in problems), problems
    manifest = json.loads(json.dumps(manifest))
    manifest["datasets"]["mug"].append(dict(manifest["datasets"]["samm"][0]))
    problems, _, _ = shared_people(manifest, leaky)
    person = manifest["datasets"]["samm"][0]["person"]
    assert "%s is micro and macro" % person in problems, problems


@pytest.mark.parametrize("argv,message", [
    (["--size", "200x200"], "not --size"),
    (["--micro-people", "lenna", "--furrows", "0.5"], "not --furrows, --micro-people"),
    (["--jobs", "0"], "--jobs 0: must be at least 1"),
])
def test_options_the_rehearsal_does_not_take_are_refused(tmp_path, capsys, argv, message):
    code = cli.main(["demo-data", "--rehearsal", "--out", str(tmp_path / "data")] + argv)
    assert code == 1
    assert message in capsys.readouterr().err
    assert not os.path.exists(str(tmp_path / "data"))


def test_an_existing_folder_is_replaced_only_with_force_and_only_if_ours(tree, tmp_path, capsys):
    base, _ = tree
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert cli.main(["demo-data", "--rehearsal", "--out", str(other), "--force"]) == 1
    assert "not written by demo-data" in capsys.readouterr().err
    assert (other / "keep.txt").read_text() == "mine"
    assert cli.main(["demo-data", "--rehearsal", "--out", str(base / "data")]) == 1
    assert "exists and is not empty" in capsys.readouterr().err
