"""The identity checks: who is in which set, from demo-data's manifest, and
leaks(): no LOSO test person (or photograph, mirrored or not) on a training
side."""
import collections
import pathlib
import posixpath

from microattention import files
from microattention.datasets.index_file import read_index
from microattention.demo.data.layouts import MANIFEST, clip_folder
from microattention.errors import UserError
from microattention.train import selection


def read_manifest(data_dir):
    """demo-data's manifest of the data tree data_dir."""
    return files.read_json(pathlib.Path(data_dir) / MANIFEST, "generate the data again",
                           missing="%s has no %s: not a demo-data tree" % (data_dir, MANIFEST))


def _person_by_folder(manifest):
    """{clip folder (relative to its dataset's tree): (person, view)} from
    demo-data's manifest."""
    return {clip_folder(dataset, c["subject"], c["clip"]): (c["person"], c["view"])
            for dataset in ("casme2", "ckplus") for c in manifest[dataset]}


def people_of_sets(data_dir):
    """{set ("micro", "macro"): {person: subject}} of the data tree data_dir."""
    manifest = read_manifest(data_dir)
    return collections.OrderedDict((k, collections.OrderedDict(v))
                                   for k, v in manifest["people"].items())


def leaks(data_dir, micro_index, macro_index):
    """What a LOSO test face shares with training, by identity: for every LOSO
    fold of micro_index, a person (or photograph, mirrored or not) of its
    test side found in its training side or anywhere in macro_index (the
    pre-training set). [] when nothing is shared. Persons come from
    demo-data's manifest through the frames' folders, not from the subject
    ids, so a mirror image filed under another subject is caught."""
    where = _person_by_folder(read_manifest(data_dir))

    def who(row):
        # frame_path is relative to the dataset's root: its folder is the clip's
        path = row["frame_path"].replace("\\", "/")
        found = where.get(posixpath.dirname(path))
        if found is None:
            raise UserError("%s: frame %s is not in demo-data's manifest" % (micro_index, path))
        return found

    def photo(view):
        return view[:-len("-mirrored")] if view.endswith("-mirrored") else view

    micro = read_index(str(micro_index))
    macro = read_index(str(macro_index))
    macro_people = {who(r)[0] for r in macro.values()}
    macro_photos = {photo(who(r)[1]) for r in macro.values()}
    problems = []
    for fold in selection.fold_list(str(micro_index), "loso"):
        test = [who(micro[i]) for i in fold["test"]]
        train = [who(micro[i]) for i in fold["train"]]
        for label, people, photos in (
                ("its LOSO training side", {p for p, _ in train}, {photo(v) for _, v in train}),
                ("the pre-training set", macro_people, macro_photos)):
            for person in sorted({p for p, _ in test} & people):
                problems.append("fold %s: test person %s is in %s" % (fold["fold"], person, label))
            for view in sorted({photo(v) for _, v in test} & photos):
                problems.append("fold %s: test photograph %s (or its mirror image) is in %s"
                                % (fold["fold"], view, label))
    return problems

