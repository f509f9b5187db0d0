"""What every dataset reader shares: the index row, the collector of samples,
exclusions and warnings, frame listing and image checks.

A reader never drops a clip silently: every clip it sees ends up either as
index rows or as an exclusion with a reason. Problems a user could fix in their
copy (missing folder, apex outside the stored frames, unreadable image) are
errors unless --skip-bad turns them into exclusions.
"""
import errno
import os
import re
import stat
from collections import Counter, OrderedDict

from microattention.errors import UserError

# Fixed column order of the index CSV.
COLUMNS = [
    "dataset", "subject", "clip", "label", "objective_class", "frame",
    "apex_source", "onset", "offset", "frame_path", "class_source", "au",
    "emotion", "source", "root",
]



def sample_id(row):
    """The id of one index row, unique within an index and stable across runs:
    dataset/subject/clip/frame. Faces, LMDB sidecars, folds and predictions
    all key their rows by it."""
    return "/".join(str(row[k]) for k in ("dataset", "subject", "clip", "frame"))


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm", ".ppm")

_DIGITS = re.compile(r"(\d+)")


def natural_key(text):
    """Sort 's2' before 's10' and 'img9' before 'img10'."""
    return [int(part) if part.isdigit() else part
            for part in _DIGITS.split(str(text))]


def frame_number(filename):
    """The frame number of an image file: the last run of digits of its stem."""
    stem = os.path.splitext(filename)[0]
    found = _DIGITS.findall(stem)
    return int(found[-1]) if found else None


def is_image(filename):
    return filename.lower().endswith(IMAGE_EXTENSIONS) and not filename.startswith(".")


def listdir(folder):
    """os.listdir with a UserError (naming the folder) instead of an OSError
    for a folder that vanished or may not be read (chmod 000)."""
    try:
        return os.listdir(folder)
    except OSError as exc:
        raise UserError("cannot list the folder %s: %s" % (shown(folder), exc.strerror or exc))


def reach(path):
    """os.stat(path), or None when nothing is there. A path that exists but
    cannot be reached is a UserError that says why, never "missing": a
    symbolic-link loop, a link to nothing, or a folder on the way that may
    not be read (chmod 000)."""
    try:
        return os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError("%s is a symbolic-link loop (a link that leads back to itself); "
                            "fix or remove the link" % shown(path))
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise UserError("%s cannot be reached: permission denied on it or on a folder "
                            "above it (it is not missing; give the user read and search "
                            "permission)" % shown(path))
        if exc.errno == errno.ENOENT and os.path.islink(path):
            raise UserError("%s is a symbolic link to %s, which does not exist"
                            % (shown(path), shown(os.readlink(path))))
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise UserError("%s: %s" % (shown(path), exc.strerror or exc))


def is_folder(path):
    """os.path.isdir that tells a folder that is not there from one that
    cannot be reached (see reach)."""
    st = reach(path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def shown(text):
    """A path or name as printable UTF-8 text: bytes of a file name that are
    not UTF-8 (kept by Python as surrogates) are shown as \\xNN escapes."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def utf8_name(path):
    """True when a path can be written to the UTF-8 index (its name was valid
    UTF-8 on disk)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def same_numbers(folder, names):
    """A UserError-ready text when two image files of a folder carry the same
    frame number (img46.jpg and img046.jpg, or a copy 'img46 (1).jpg' with
    its own digits aside): which one is frame N would depend on the listing
    order. None when the numbers are unique."""
    seen = {}
    clashes = []
    for name in sorted(names):
        number = frame_number(name)
        if number is None:
            continue
        if number in seen:
            clashes.append("%s and %s are both frame %d" % (seen[number], name, number))
        else:
            seen[number] = name
    if not clashes:
        return None
    return "%s: %s; keep one file per frame" % (shown(folder), "; ".join(clashes[:5]))


def list_frames(folder):
    """Map frame number -> file name for the images in a clip folder.

    Frame numbers come from the file names, not from the position in the
    listing, because the coding sheets refer to those numbers (CASME II's
    img46.jpg is frame 46, SAMM's 006_05562.jpg is frame 5562). Two files
    with one number are a UserError (same_numbers)."""
    names = [n for n in listdir(folder) if is_image(n)]
    clash = same_numbers(folder, names)
    if clash:
        raise DuplicateFrames(clash)
    return {frame_number(n): n for n in names if frame_number(n) is not None}


class DuplicateFrames(UserError):
    """Two image files of a clip folder with the same frame number."""


def sorted_images(folder):
    """Image file names of a folder in frame order (for sets without numbers in
    a sheet: SMIC, CK+, Oulu-CASIA, MUG). Two files with one frame number are
    a DuplicateFrames error: their order would be a guess."""
    names = [n for n in listdir(folder) if is_image(n)]
    clash = same_numbers(folder, names)
    if clash:
        raise DuplicateFrames(clash)
    return sorted(names, key=lambda n: (frame_number(n) is None, frame_number(n) or 0,
                                        natural_key(n)))


def image_problem(path):
    """None when the file is a complete, decodable image, else why not.

    The bytes are read by Python and decoded from memory: cv2.imread crashes
    (segmentation fault) on some file names that are not UTF-8, and it
    silently decodes the first part of a truncated JPEG. Pillow, with
    truncated images refused, decodes the whole file once (the formats of the
    seven sets are all Pillow's); a file Pillow does not recognise is
    left to OpenCV, which the later stages read images with."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return "cannot read the file: %s" % (exc.strerror or exc)
    if not data:
        return "empty file"
    import io
    import warnings
    from PIL import Image, ImageFile, UnidentifiedImageError
    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                image.load()
        return None
    except UnidentifiedImageError:
        pass  # a format Pillow does not know: OpenCV decides below
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError...
        return "corrupt or truncated image (%s)" % exc
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved
    import cv2  # imported late: only the image check needs it
    import numpy
    try:
        image = cv2.imdecode(numpy.frombuffer(data, numpy.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        return "OpenCV cannot decode it"
    return None


def image_readable(path):
    """True when the file is a complete image OpenCV decodes."""
    return image_problem(path) is None


def cell_text(value):
    """A sheet cell as text: integral floats lose their '.0', None is ''."""
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value).strip()


def parse_int(value):
    """An integer from a sheet cell, or None when it is not a whole number."""
    text = cell_text(value)
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    return None


def _levels(root, depth, unreadable=None):
    """Breadth-first walk: for each level below root (up to depth levels), the
    sorted (path, is_dir) entries; unreadable folders are skipped and listed
    in `unreadable`, so that "not found" can say where it could not look."""
    level = [root]
    for _ in range(depth):
        entries = []
        for folder in level:
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                if unreadable is not None:
                    unreadable.append(folder)
                continue
            entries.extend((os.path.join(folder, n), os.path.isdir(os.path.join(folder, n)))
                           for n in names)
        yield entries
        level = [path for path, is_dir in entries if is_dir]


def find_dir(root, names, depth=2):
    """The first directory below root (breadth first, up to depth levels,
    root itself not included) whose name is one of names (case-insensitive)."""
    wanted = {n.lower() for n in names}
    for entries in _levels(root, depth):
        for path, is_dir in entries:
            if is_dir and os.path.basename(path).lower() in wanted:
                return path
    return None


def unreadable_below(root, depth=2):
    """For a "not found" message: '' or where the search could not look
    (folders below root that may not be listed), since the file or folder
    may be in there rather than missing."""
    unreadable = []
    for _ in _levels(root, depth + 1, unreadable):
        pass
    if not unreadable:
        return ""
    return "; %s could not be read (permission denied?), so it may be in there" % (
        ", ".join(shown(f) for f in unreadable[:5]))


class Collector:
    """Index rows, exclusions (with reasons), warnings and errors of one dataset."""

    def __init__(self, dataset, display_name, root, class_order, skip_bad=False,
                 check_images=True):
        self.dataset = dataset
        self.display_name = display_name
        self.root = os.path.abspath(root)
        self.class_order = list(class_order)  # (key, printed name) pairs
        self.skip_bad = skip_bad
        self.check_images = check_images
        self.rows = []
        self.excluded = []     # dicts: dataset, subject, clip, reason, detail
        self.warnings = []
        self.errors = []
        self.notes = []        # lines printed once under the summary
        self.clip_classes = Counter()   # class key -> clips seen (Table 1)
        self.subjects_seen = set()
        self.clips_seen = 0
        self.inputs = []       # files read (sheets, label files): never an output

    # -- recording -------------------------------------------------------
    def saw_clip(self, subject, class_key):
        """Count a clip of the database for the Table 1 summary."""
        self.subjects_seen.add(subject)
        self.clips_seen += 1
        if class_key is not None:
            self.clip_classes[class_key] += 1

    def labelled(self, subject, clip, label, folder, dropped):
        """Count a clip of a folder-labelled set; True when its class is one
        of the paper's. An unknown folder name is a problem, a dropped class
        (fear, neutral, ...) an exclusion."""
        self.saw_clip(subject, label)
        if label is None:
            self.bad(subject, clip, "unknown expression folder", folder)
            return False
        if label in dropped:
            self.exclude(subject, clip, label, self.relpath(folder))
            return False
        return True

    def warn(self, message):
        self.warnings.append(message)

    def note(self, message):
        if message not in self.notes:
            self.notes.append(message)

    def exclude(self, subject, clip, reason, detail=""):
        """A sample the paper does not use (class VI/VII, contempt, ...)."""
        self.excluded.append(OrderedDict([
            ("dataset", self.dataset), ("subject", shown(subject)), ("clip", shown(clip)),
            ("reason", reason), ("detail", shown(detail))]))

    def bad(self, subject, clip, reason, detail):
        """A sample that cannot be used because the copy differs from the
        official layout: an error, or an exclusion with --skip-bad."""
        if self.skip_bad:
            self.exclude(subject, clip, reason, detail)
        else:
            self.errors.append("%s: %s" % (reason, shown(detail)))

    def relpath(self, path):
        return os.path.relpath(path, self.root).replace(os.sep, "/")

    def add_row(self, **values):
        row = OrderedDict((column, "") for column in COLUMNS)
        row["dataset"] = self.dataset
        row["root"] = self.root
        for key, value in values.items():
            if key not in row:
                raise KeyError(key)
            row[key] = "" if value is None else str(value)
        self.rows.append(row)

    def usable_image(self, subject, clip, path):
        """Check one selected frame; record the problem when it is unusable."""
        if not utf8_name(path):
            self.bad(subject, clip, "file name not UTF-8",
                     "%s (rename it: the index is UTF-8 text)" % shown(path))
            return False
        if not os.path.isfile(path):
            self.bad(subject, clip, "missing image", path)
            return False
        if self.check_images:
            problem = image_problem(path)
            if problem:
                self.bad(subject, clip, "unreadable image", "%s: %s" % (path, problem))
                return False
        return True

    def frames(self, subject, clip, folder, numbered=False, needed=0):
        """The clip's images (sorted_images), or with `numbered` its
        {frame number: file name} (list_frames); None, with the problem
        recorded, when two files carry one frame number or there are fewer
        than `needed`."""
        try:
            found = list_frames(folder) if numbered else sorted_images(folder)
        except DuplicateFrames as exc:
            self.bad(subject, clip, "duplicate frame number", str(exc))
            return None
        if len(found) < needed:
            self.bad(subject, clip, "too few frames", "%s holds %d image(s), %d needed"
                     % (folder, len(found), needed))
            return None
        return found

    def read_input(self, path):
        """Record a file the reader takes data from."""
        self.inputs.append(path)
        return path

    def finish(self):
        """Raise the collected errors, all of them, as one UserError; an index
        without a single sample of a dataset is an error too."""
        if not self.errors and not self.rows:
            reasons = Counter(e["reason"] for e in self.excluded)
            raise UserError("%s: no usable sample in %s (%d clip(s) seen%s)" % (
                self.display_name, shown(self.root), self.clips_seen,
                "; excluded: " + ", ".join("%d %s" % (n, r) for r, n in sorted(reasons.items()))
                if reasons else ""))
        if self.errors:
            first = self.errors[:20]
            more = len(self.errors) - len(first)
            text = "%s: %d problem(s) in %s:\n  %s" % (
                self.display_name, len(self.errors), shown(self.root), "\n  ".join(first))
            if more:
                text += "\n  ... and %d more" % more
            text += ("\nFix the copy, or rerun with --skip-bad to exclude these "
                     "samples (they are listed and counted).")
            raise UserError(text)


def require_dir(path, what, hint):
    if path is None or not is_folder(path):
        raise UserError("%s not found%s; %s" % (
            what, "" if path is None else " at %s" % path, hint))
    return path


def find_file(root, patterns, depth=2):
    """Files below root (up to depth levels) whose names match one of the
    glob patterns (case-insensitive), in pattern order then path order."""
    import fnmatch
    found = []
    candidates = [path for entries in _levels(root, depth + 1)
                  for path, is_dir in entries if not is_dir]
    for pattern in patterns:
        for path in candidates:
            if fnmatch.fnmatch(os.path.basename(path).lower(), pattern.lower()) \
                    and path not in found:
                found.append(path)
    return found
