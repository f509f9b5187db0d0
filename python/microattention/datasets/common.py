"""What every dataset reader shares: the index row (its columns and sample
id) and the collector of samples, exclusions and warnings.

A reader never drops a clip silently: every clip it sees ends up either as
index rows or as an exclusion with a reason. Problems a user could fix in their
copy (missing folder, apex outside the stored frames, unreadable image) are
errors unless --skip-bad turns them into exclusions.
"""
import os
from collections import Counter, OrderedDict

from microattention.datasets.files import (DuplicateFrames, list_frames, shown,
                                           sorted_images, utf8_name)
from microattention.datasets.images import image_problem
from microattention.errors import UserError

# Fixed column order of the index CSV.
COLUMNS = [
    "dataset", "subject", "clip", "label", "objective_class", "frame",
    "apex_source", "onset", "offset", "frame_path", "class_source", "au",
    "emotion", "source", "root",
]


def apex_not_stored(apex, numbers, folder):
    """The detail of an apex frame that is not among a clip's frame
    `numbers`: a gap inside the stored range is a missing frame, not an apex
    outside the stored frames."""
    if not numbers:
        return "apex %d, but no image name in %s carries a frame number" % (apex, folder)
    low, high = min(numbers), max(numbers)
    if low < apex < high:
        return "apex frame %d is missing from the stored frames %d..%d of %s" % (
            apex, low, high, folder)
    return "apex %d, but %s holds frames %d..%d" % (apex, folder, low, high)


def sample_id(row):
    """The id of one index row, unique within an index and stable across runs:
    dataset/subject/clip/frame. Faces, LMDB sidecars, folds and predictions
    all key their rows by it."""
    return "/".join(str(row[k]) for k in ("dataset", "subject", "clip", "frame"))


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
        if os.path.isdir(path):
            self.bad(subject, clip, "missing image",
                     "%s is a folder, not an image file" % path)
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
