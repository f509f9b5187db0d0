"""A user's clip for predict: a video file or a folder of frame images, read
as numbered gray frames; and the clips of --video / --frames (one, or every
clip of a folder of clips).
"""
import os
import pathlib

import numpy as np

from microattention.datasets.files import frame_number, is_image, sorted_images
from microattention.errors import UserError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


class Clip:
    """A video file or a folder of frames: frames() yields (number, gray)."""

    def __init__(self, path, kind, name):
        self.path, self.kind, self.name = str(path), kind, name
        self.fps = None
        if kind == "frames":
            self.images, self.numbers, self.numbering = frame_files(self.path)
        else:
            self.numbering = "0-based frame index"
            self._check_video()

    def _check_video(self):
        import cv2  # lazy: OpenCV is optional outside the image (its tests skip without it)
        if not os.path.isfile(self.path):
            raise UserError("--video %s: no such file" % self.path)
        if os.path.getsize(self.path) == 0:
            raise UserError("--video %s is an empty file" % self.path)
        capture = cv2.VideoCapture(self.path)
        try:
            ok, frame = capture.read() if capture.isOpened() else (False, None)
            if not ok or frame is None:
                raise UserError("--video %s: OpenCV reads no frame from it (not a video, "
                                "or a format this OpenCV cannot decode)" % self.path)
            self.fps = capture.get(cv2.CAP_PROP_FPS) or None
            self.estimate = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        finally:
            capture.release()

    def count_hint(self):
        return len(self.images) if self.kind == "frames" else self.estimate

    def frames(self):
        import cv2  # lazy: OpenCV is optional outside the image (its tests skip without it)
        if self.kind == "frames":
            for number, name in zip(self.numbers, self.images):
                path = os.path.join(self.path, name)
                gray = _read_gray(path)
                if gray is None:
                    raise UserError("--frames %s: frame %s cannot be read as an image"
                                    % (self.path, name))
                yield number, gray
            return
        capture = cv2.VideoCapture(self.path)
        try:
            number = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                yield number, (frame if frame.ndim == 2
                               else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
                number += 1
        finally:
            capture.release()

    def frame(self, wanted):
        for number, gray in self.frames():
            if number == wanted:
                return gray
        raise UserError("%s: frame %d could not be read again" % (self.path, wanted))


def _read_gray(path):
    """A frame file as a gray image, or None. Not faces.read_gray: the bytes
    are read by Python and decoded from memory, since cv2.imread crashes the
    process (segmentation fault) on a file name that is not UTF-8, and a
    user's frame folder has not been checked by the index stage."""
    import cv2  # lazy: OpenCV is optional outside the image (its tests skip without it)
    try:
        data = np.fromfile(path, np.uint8)
    except OSError:
        return None
    if not data.size:
        return None
    gray = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    return gray if gray is not None and gray.size else None


NUMBERED = "frame numbers of the file names"
POSITIONS = "positions from 1 in name order (the file names carry no frame numbers)"


def frame_files(folder):
    """(image names in frame order, their frame numbers, how they are
    numbered) of a frame folder: the numbers in the file names, or positions
    from 1 when no name has one. A mix is refused: --apex and --onset name
    frames by the numbers of their file names."""
    if not os.path.isdir(folder):
        raise UserError("--frames %s: no such folder" % folder)
    names = sorted_images(folder)    # two files with one number: DuplicateFrames
    if not names:
        raise UserError("--frames %s holds no images" % folder)
    numbers = [frame_number(n) for n in names]
    bare = [n for n, k in zip(names, numbers) if k is None]
    if not bare:
        return names, numbers, NUMBERED
    if len(bare) < len(names):
        raise UserError("--frames %s: %d of %d frame files have no frame number in their "
                        "name (%s), the others have; rename them all with their frame "
                        "numbers, or none" % (folder, len(bare), len(names),
                                              ", ".join(bare[:3]) + (", ..." if len(bare) > 3
                                                                     else "")))
    return names, list(range(1, len(names) + 1)), POSITIONS


def find_clips(args):
    """[Clip] of --video / --frames: one, or every clip of a folder of clips."""
    if args.video:
        path = pathlib.Path(args.video)
        if path.is_dir():
            videos = sorted(p for p in path.iterdir()
                            if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
            if not videos:
                raise UserError("--video %s: a folder without video files (%s)"
                                % (path, " ".join(VIDEO_EXTENSIONS)))
            return [Clip(p, "video", p.stem) for p in videos], True
        return [Clip(path, "video", path.stem)], False
    root = pathlib.Path(args.frames)
    if not root.is_dir():
        raise UserError("--frames %s: no such folder" % root)
    if any(is_image(p.name) for p in root.iterdir() if p.is_file()):
        return [Clip(root, "frames", root.name)], False
    clips = []
    for folder, dirs, names in os.walk(str(root)):
        dirs.sort()
        if any(is_image(n) for n in names):
            rel = os.path.relpath(folder, str(root))
            clips.append(Clip(folder, "frames", rel.replace(os.sep, "__")))
    if not clips:
        raise UserError("--frames %s holds no images, nor folders of images" % root)
    return clips, True
