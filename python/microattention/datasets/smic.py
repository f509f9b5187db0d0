"""SMIC-E: no sheet; the class is the folder name, the apex is the middle frame.

Expected tree (ROOT = --root, CAMERA = HS, VIS or NIR from --camera):
  ROOT/SMIC/HS/s1/micro/negative/s1_ne_01/image0000001.bmp
  (ROOT may also be the SMIC folder itself, or hold HS/ directly.)
Classes: positive, negative, surprise. Other folders next to 'micro'
(non_micro) are not micro-expressions and are not read.
"""
import os
import re

from microattention import paper
from microattention.errors import UserError
from microattention.datasets.files import (find_dir, frame_number, is_folder, listdir,
                                           unreadable_below)
from microattention.naming import natural_key

NAME = "smic"
DISPLAY = "SMIC"
LABELS = list(paper.SMIC_CLASSES)
CLASSES = [(label, label.capitalize()) for label in LABELS]
CAMERAS = {"hs": "HS", "vis": "VIS", "nir": "NIR"}


def camera_dir(root, camera):
    name = CAMERAS[camera]
    if os.path.basename(os.path.normpath(root)).upper() == name:
        return root
    found = find_dir(root, [name], depth=2)
    if found is None:
        raise UserError("SMIC: no %s folder below %s; expected SMIC/%s/s1/micro/negative/"
                        "s1_ne_01/image0000001.bmp (choose the camera with --camera)%s"
                        % (name, root, name, unreadable_below(root)))
    return found


def index(root, opts, col):
    camera = opts.camera or "hs"
    if camera not in CAMERAS:
        raise UserError("SMIC: --camera must be one of hs, vis, nir (got %r)" % camera)
    base = camera_dir(root, camera)
    col.note("camera %s: %s" % (CAMERAS[camera], col.relpath(base)))
    subjects = sorted((d for d in listdir(base)
                       if re.fullmatch(r"(?i)s\d+", d) and is_folder(os.path.join(base, d))),
                      key=natural_key)
    if not subjects:
        raise UserError("SMIC: no subject folders (s1, s2, ...) in %s" % base)
    for subject in subjects:
        micro = os.path.join(base, subject, "micro")
        if not is_folder(micro):
            continue  # subjects without micro-expressions have no 'micro' folder
        for label_dir in sorted(listdir(micro)):
            class_path = os.path.join(micro, label_dir)
            if not is_folder(class_path):
                continue
            label = label_dir.lower()
            clips = sorted(d for d in listdir(class_path)
                           if is_folder(os.path.join(class_path, d)))
            if not clips:
                # A class folder with no clip in it: clips lost in a copy
                # would otherwise just shrink the class without a word.
                col.bad(subject, label_dir, "empty class folder",
                        "%s holds no clip folder" % class_path)
                continue
            for clip in clips:
                if label not in LABELS:
                    col.saw_clip(subject, None)
                    col.bad(subject, clip, "unknown class folder",
                            "%s (expected positive, negative or surprise)" % class_path)
                    continue
                col.saw_clip(subject, label)
                _clip(col, subject, clip, label, os.path.join(class_path, clip))


def _clip(col, subject, clip, label, folder):
    names = col.frames(subject, clip, folder)
    if names is None:
        return
    if not names:
        col.bad(subject, clip, "no frames", "no images in %s" % folder)
        return
    # No apex in SMIC: the paper takes the middle frame of the clip.
    middle = names[(len(names) - 1) // 2]
    path = os.path.join(folder, middle)
    if not col.usable_image(subject, clip, path):
        return
    col.add_row(subject=subject, clip=clip, label=label, frame=frame_number(middle),
                apex_source="middle-frame", onset=frame_number(names[0]),
                offset=frame_number(names[-1]), frame_path=col.relpath(path),
                class_source="folder", source=col.relpath(folder))
