"""Shared by the macro-expression sets (pre-training, paper 4.1): the five
classes and the selection of frames from a sequence."""
import os

from microattention import paper
from microattention.datasets.files import frame_number

LABELS = list(paper.CLASSES)


def class_order(dropped):
    return [(label, label.capitalize()) for label in LABELS] + \
           [(label, "%s (dropped)" % label.capitalize()) for label in dropped]


def add_frames(col, subject, clip, label, folder, names, apex_source, source, onset=None,
               offset=None):
    """One index row per selected frame; the sample is excluded if any selected
    frame is unusable (a partial sequence would change the counts silently)."""
    paths = [os.path.join(folder, name) for name in names]
    if not all(col.usable_image(subject, clip, path) for path in paths):
        return
    for name, path in zip(names, paths):
        col.add_row(subject=subject, clip=clip, label=label, frame=frame_number(name),
                    apex_source=apex_source, onset=onset, offset=offset,
                    frame_path=col.relpath(path), class_source="folder"
                    if source is None else "label-file", source=source or col.relpath(folder))
