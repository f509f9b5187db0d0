"""The measurement's positive control (issue 25, item 6), on generated demo
data: a map known to prefer where the clip changes, the blurred difference
image itself, goes through the scoring and statistics the nets' maps go
through (heldout.score_samples, statistics.summarize_heldout) and comes out
"prefers" on the generator's truth; a uniform map and a shuffled one come out
"no preference". Also the truth masks: written by demo-data, carried into
the crop with the crop's own transform."""
import csv
import json
import os

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from microattention import cli  # noqa: E402
from microattention.attention import heldout, statistics  # noqa: E402
from microattention.attention import truth as carried  # noqa: E402
from microattention.demo.data import layouts, truth  # noqa: E402
from microattention.faces import crop, records  # noqa: E402

# six people (a verdict needs six), one clip per class each, at the demo's
# micro intensity with wrinkle lines; small frames keep it quick
PEOPLE = ("lenna", "takeo", "breakingbad", "einstein", "obama", "biden")
DATA = ["--micro-people", ",".join(PEOPLE), "--macro-people", "hopper",
        "--micro-clips", "1", "--macro-clips", "1", "--micro-frames", "3",
        "--macro-frames", "3", "--size", "160x160", "--furrows", "0.6",
        "--magnitude-micro", "2.5", "--au-variants", "1", "--jobs", "1"]
SMALL = 14     # the control maps' resolution (an attention_256 map's)


def _gray(path):
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert image is not None, path
    return image


def _landmarks(out):
    with open(os.path.join(str(out), "landmarks.csv")) as handle:
        rows = list(csv.reader(handle))[1:]
    return {r[0]: np.array(r[1:], float).reshape(68, 2) for r in rows}


def _face(out, points, clip, faces_dir):
    """Crop the apex frame as the faces stage does (its own box, from the
    generator's points) and the neutral frame with the same box; write the
    crop, its points and a faces.csv row. Returns (row, difference map)."""
    folder = "casme2/" + layouts.clip_folder("casme2", clip["subject"], clip["clip"])
    apex = "%s/reg_img%d.jpg" % (folder, clip["apex"])
    neutral = "%s/reg_img%d.jpg" % (folder, clip["onset"])
    box = crop.crop_box(points[apex])
    face, matrix = crop.cut(_gray(os.path.join(str(out), apex)), box)
    still = crop.cut(_gray(os.path.join(str(out), neutral)), box)[0]
    name = "sub%02d_%s" % (clip["subject"], clip["clip"])
    cv2.imwrite(str(faces_dir / "crops" / (name + ".png")), face)
    (faces_dir / "landmarks" / (name + ".pts")).write_text(
        records.pts_text(crop.transform(points[apex], matrix)))
    sid = "casme2/sub%02d/%s/%d" % (clip["subject"], clip["clip"], clip["apex"])
    row = {"sample_id": sid, "crop": "crops/%s.png" % name, "status": "ok",
           "landmarks": "landmarks/%s.pts" % name}
    row.update(zip(carried.BOX_COLUMNS, map(records.num, box)))
    difference = cv2.GaussianBlur(np.abs(face.astype(np.float32) - still), (0, 0), 4)
    return row, cv2.resize(difference, (SMALL, SMALL), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("control")
    out = root / "data"
    assert cli.main(["demo-data", "--out", str(out)] + DATA) == 0
    with open(str(out / layouts.MANIFEST)) as handle:
        manifest = json.load(handle)
    faces_dir = root / "faces"
    (faces_dir / "crops").mkdir(parents=True)
    (faces_dir / "landmarks").mkdir()
    points = _landmarks(out)
    chosen, face_rows, differences = [], {}, {}
    for clip in manifest["casme2"]:
        row, difference = _face(out, points, clip, faces_dir)
        sid = row["sample_id"]
        face_rows[sid], differences[sid] = row, difference
        index_row = {"subject": "sub%02d" % clip["subject"], "clip": clip["clip"],
                     "label": clip["label"], "au": clip["aus"]}
        chosen.append((sid, sid, index_row))          # each face its own "fold"
    return {"out": out, "manifest": manifest, "faces_dir": faces_dir, "chosen": chosen,
            "faces": (face_rows, str(faces_dir / "faces.csv")), "differences": differences}


def control_sources(differences):
    """Map sources of the controls, per sample ("fold" = sample id)."""
    rng = np.random.RandomState(0)

    def sources_of(sid):
        difference = differences[sid]
        shuffled = difference.ravel()[rng.permutation(difference.size)].reshape(
            difference.shape)
        found = {"difference": difference, "uniform": np.ones_like(difference),
                 "shuffled": shuffled}
        return [("control", "control", lambda face, m=found: (m, None))]
    return sources_of


def _summary(generated, people=None):
    chosen = [c for c in generated["chosen"] if people is None or c[2]["subject"] in people]
    scored, _ = heldout.score_samples(chosen, control_sources(generated["differences"]),
                                      generated["faces"], generated["faces_dir"],
                                      truth.truth_masks(generated["out"]))
    return {(r["map"], r["regions"]): r for r in statistics.summarize_heldout(scored)}


def test_the_difference_image_prefers_the_truth_and_uniform_and_shuffled_maps_do_not(
        generated):
    rows = _summary(generated)
    assert {r["people"] for r in rows.values()} == {6}
    assert {r["faces"] for k, r in rows.items() if k[1] == "truth"} == {30}
    difference = rows[("difference", "truth")]
    assert difference["verdict"] == statistics.PREFERS, difference
    assert difference["lift"] > 1
    for key in ("uniform", "shuffled"):
        row = rows[(key, "truth")]
        assert row["verdict"] == statistics.NO_PREFERENCE, row
    assert rows[("uniform", "truth")]["auc"] == 0.5
    assert rows[("uniform", "truth")]["lift"] == pytest.approx(1.0)
    # the placebo regions (another class's, off the moving ones) draw less:
    # within the face, a map of the moving regions does not prefer them
    placebo = rows[("difference", "placebo")]
    assert placebo["auc"] < difference["auc_low"]
    assert placebo["verdict"] != statistics.PREFERS, placebo
    # with five people the same data gets no verdict
    five = _summary(generated, {"sub%02d" % i for i in range(1, 6)})
    assert five[("difference", "truth")]["verdict"] == "untested (5 < 6 people)"


def test_truth_masks_lie_where_the_frames_changed(generated):
    out = generated["out"]
    masks = truth.truth_masks(out)
    assert len(masks) == len(generated["manifest"]["casme2"]) == 30
    ratios = []
    for clip in generated["manifest"]["casme2"]:
        mask = _gray(masks[("sub%02d" % clip["subject"], clip["clip"])]) > 0
        folder = "casme2/" + layouts.clip_folder("casme2", clip["subject"], clip["clip"])
        apex, neutral = (_gray(os.path.join(str(out), "%s/reg_img%d.jpg" % (folder, n)))
                         for n in (clip["apex"], clip["onset"]))
        change = np.abs(apex.astype(float) - neutral)
        assert 0 < mask.mean() < 0.5
        ratios.append(change[mask].mean() / change[~mask].mean())
    # the noisy frames change several times more inside the truth than outside
    assert min(ratios) > 2, ratios


def test_truth_mask_thresholds_the_change():
    neutral = np.full((20, 30), 100, np.uint8)
    apex = neutral.copy()
    apex[2:5, 3:9] = 110            # changed
    apex[10, 10] = 102              # below the threshold
    apex[12:14, 20] = 90            # darker counts too
    mask = truth.truth_mask(neutral, apex) > 0
    expected = np.zeros_like(mask)
    expected[2:5, 3:9] = True
    expected[12:14, 20] = True
    assert (mask == expected).all()
    colour = truth.truth_mask(np.dstack([neutral] * 3), np.dstack([apex] * 3))
    assert (colour > 0).sum() == expected.sum()


def test_a_carried_mask_follows_the_crop_transform():
    # a disk around one frame point lands around the point crop.transform gives
    point = np.array([[130.0, 90.0]])
    frame = np.zeros((200, 260), np.uint8)
    cv2.circle(frame, (130, 90), 6, 255, -1)
    box = (120.0, 100.0, 110.0, 12.0)              # centre, side, roll in degrees
    moved = carried.carried_mask(frame > 0, box)
    x, y = crop.transform(point, crop.crop_matrix(box))[0]
    assert moved[int(round(y)), int(round(x))]
    ys, xs = np.nonzero(moved)
    assert abs(xs.mean() - x) < 1 and abs(ys.mean() - y) < 1
    # area scales with (240 / side)^2
    assert moved.sum() == pytest.approx((frame > 0).sum() * (240 / 110.0) ** 2, rel=0.1)
