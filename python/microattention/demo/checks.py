"""The identity checks: who is in which set, from demo-data's manifest, and
leaks(): no LOSO test person, and no photograph of one (its file and crop
box, mirrored or not), on a training side."""
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


def _person_by_folder(manifest, data_dir):
    """{clip folder (relative to its dataset's tree): (person, photograph)}
    from demo-data's manifest; a photograph is (source, file, crop box or
    None for the whole photograph), a mirror image's that of its original."""
    photos = manifest.get("photos")
    if photos is None:
        raise UserError("%s/%s names no photograph per view (written by an older demo-data): "
                        "generate the data again" % (data_dir, MANIFEST))

    def photo(view):
        record = photos.get(view)
        if record is None:
            raise UserError("%s/%s: view %r has no photograph in its \"photos\""
                            % (data_dir, MANIFEST, view))
        crop = record["crop"]
        return record["source"], record["member"], tuple(crop) if crop else None

    return {clip_folder(dataset, c["subject"], c["clip"]): (c["person"], photo(c["view"]))
            for dataset in ("casme2", "ckplus") for c in manifest[dataset]}


def same_photograph(one, other):
    """Whether two photographs (source, file, crop) share pixels: the same
    file, and crop boxes (x, y, width, height) that overlap (no box: the
    whole photograph, which overlaps every crop of it)."""
    if one[:2] != other[:2]:
        return False
    if one[2] is None or other[2] is None:
        return True
    (x, y, w, h), (u, v, s, t) = one[2], other[2]
    return x < u + s and u < x + w and y < v + t and v < y + h


def _said(photo):
    return "%s %s" % photo[:2] + (" region %s" % (photo[2],) if photo[2] else "")


def people_of_sets(data_dir):
    """{set ("micro", "macro"): {person: subject}} of the data tree data_dir."""
    manifest = read_manifest(data_dir)
    return collections.OrderedDict((k, collections.OrderedDict(v))
                                   for k, v in manifest["people"].items())


def leaks(data_dir, micro_index, macro_index):
    """What a LOSO test face shares with training, by identity: for every LOSO
    fold of micro_index, a person or a photograph (mirrored or not) of its
    test side found in its training side or anywhere in macro_index (the
    pre-training set). [] when nothing is shared. Persons come from
    demo-data's manifest through the frames' folders, not from the subject
    ids, so a mirror image filed under another subject is caught;
    photographs by their source file and crop box, not by person, so that one
    photograph (or two overlapping crops of it) under two names is caught."""
    where = _person_by_folder(read_manifest(data_dir), data_dir)

    def who(row):
        # frame_path is relative to the dataset's root: its folder is the clip's
        path = row["frame_path"].replace("\\", "/")
        found = where.get(posixpath.dirname(path))
        if found is None:
            raise UserError("%s: frame %s is not in demo-data's manifest" % (micro_index, path))
        return found

    micro = read_index(str(micro_index))
    macro = [who(r) for r in read_index(str(macro_index)).values()]
    problems = []
    for fold in selection.fold_list(str(micro_index), "loso"):
        test = [who(micro[i]) for i in fold["test"]]
        train = [who(micro[i]) for i in fold["train"]]
        for label, side in (("its LOSO training side", train), ("the pre-training set", macro)):
            for person in sorted({p for p, _ in test} & {p for p, _ in side}):
                problems.append("fold %s: test person %s is in %s" % (fold["fold"], person, label))
            photos = set(f for _, f in side)
            for photo in sorted(set(f for _, f in test), key=str):
                shared = sorted((f for f in photos if same_photograph(photo, f)), key=str)
                if shared:
                    problems.append("fold %s: test photograph %s (or its mirror image) is in %s "
                                    "as %s" % (fold["fold"], _said(photo), label,
                                               ", ".join(_said(f) for f in shared)))
    return problems
