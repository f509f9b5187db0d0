"""Scoring held-out faces: each face's region masks (generator truth, coded
AUs, placebo), every map of every map source on them within the face (score,
area, lift, AUC, the mask's spread), one record per face, source, map and
region set.

A map source is (net, state, forward): forward(face) -> (OrderedDict map
name -> 2-D map, class probabilities or None). The nets of a fold are map
sources (figure4.py); so is the positive control of the tests, which goes
through the same scoring.
"""
import collections
import os
import sys

import numpy as np

from microattention.attention import maps, regions, samples, statistics, truth
from microattention.errors import UserError

REGION_SETS = ("truth", "coded", "placebo")
FACE_COLUMNS = ("fold", "person", "sample_id", "class", "regions", "aus", "net", "state",
                "map", "resolution", "score", "area", "lift", "auc", "spread")


def coded_aus(text):
    """'4+7' or 'AU4+AU7' -> (4, 7); AUs without a region are dropped."""
    out = []
    for part in str(text).replace(",", "+").split("+"):
        digits = "".join(ch for ch in part if ch.isdigit())
        if digits and int(digits) in regions.AU_LANDMARKS:
            out.append(int(digits))
    return tuple(sorted(set(out)))


def face_masks(row, face_row, points, shape, truth_files, faces_csv):
    """(face domain, OrderedDict region set -> (mask, description)) of one
    face: 'truth' (the given mask of its clip, carried into the crop),
    'coded' (the hulls of its coded AUs), 'placebo' (another class's AU
    hulls, minus both); each cut to the face (regions.face_mask). Sets that
    are missing, empty or the whole face are left out."""
    domain = regions.face_mask(points, shape)
    found = collections.OrderedDict()
    key = (row["subject"], row["clip"])
    if truth_files and key in truth_files:
        found["truth"] = (truth.carried_mask(truth.read_mask(truth_files[key]),
                                             truth.crop_box(face_row, faces_csv), shape[0]),
                          "generator")
    aus = coded_aus(row.get("au") or "")
    if aus:
        found["coded"] = (regions.region_mask(points, aus, shape), "+".join(map(str, aus)))
    own = None
    for mask, _ in found.values():
        own = mask.copy() if own is None else own | mask
    placebo, other = truth.placebo_mask(points, row["label"], own, shape)
    if placebo is not None:
        found["placebo"] = (placebo, "%s: %s" % (truth.other_class(row["label"]),
                                                "+".join(map(str, other))))
    out = collections.OrderedDict()
    for name, (mask, described) in found.items():
        mask = mask & domain
        if mask.any() and mask.sum() < domain.sum():
            out[name] = (mask, described)
    return domain, out


def score_face(base, face, domain, masks, sources, records):
    """Every map of every source on one face's masks, within its face
    domain; the records are appended to `records` (`base`: fold, person,
    sample_id, class). Returns [(net, state, map name, upsampled map,
    {region set: lift})] for a picture."""
    shown = []
    for net, state, forward in sources:
        face_maps = forward(face)[0]
        for key, small in face_maps.items():
            big = maps.upsample(small, face.shape[0])
            values = big[domain]
            spread = None if key == maps.FEATURE else float(np.std(small))
            lifts = {}
            for region_set, (mask, described) in masks.items():
                inside = mask[domain]
                score = regions.region_score(values, inside)
                area = float(inside.mean())
                lift = regions.lift(score, area)
                lifts[region_set] = lift
                records.append(collections.OrderedDict(list(base.items()) + [
                    ("regions", region_set), ("aus", described), ("net", net),
                    ("state", state), ("map", key),
                    ("resolution", "%dx%d" % small.shape[::-1]), ("score", score),
                    ("area", area), ("lift", lift), ("auc", statistics.auc(values, inside)),
                    ("spread", spread)]))
            shown.append((net, state, key, big, lifts))
    return shown


def score_samples(samples_, sources_of, faces, faces_dir, truth_files=None, picture=(),
                  progress=False):
    """Records of every sample through its fold's map sources. samples_:
    [(fold, sample id, index row)] grouped by fold; sources_of(fold) -> the
    fold's map sources (loaded once per fold); faces: (faces.csv rows by
    sample id, faces.csv path). Returns (records, {sample id of `picture`:
    (face, points, masks, shown)})."""
    from tqdm import tqdm  # lazy: only the progress bar needs it (not on the host)
    rows_by_id, faces_csv = faces
    records, seen = [], collections.OrderedDict()
    bar = tqdm(total=len(samples_), unit="face", file=sys.stderr, disable=not progress)
    current, sources = None, None
    for fold, sid, row in samples_:
        if fold != current:
            sources = None      # the previous fold's nets go before the next load
            current, sources = fold, sources_of(fold)
        face_row = rows_by_id.get(sid)
        if face_row is None or face_row.get("status") != "ok" or not face_row.get("landmarks"):
            raise UserError("%s: test sample %s of fold %s has no face crop with "
                                    "landmarks" % (faces_csv, sid, fold))
        face = samples.read_face(os.path.join(str(faces_dir), face_row["crop"]), faces_csv)
        points = samples.read_pts(os.path.join(str(faces_dir), face_row["landmarks"]),
                                  faces_csv)
        domain, masks = face_masks(row, face_row, points, face.shape, truth_files, faces_csv)
        base = collections.OrderedDict([("fold", fold), ("person", row["subject"]),
                                        ("sample_id", sid), ("class", row["label"])])
        shown = score_face(base, face, domain, masks, sources, records) if masks else []
        if sid in picture:
            seen[sid] = (face, points, masks, shown)
        bar.update(1)
    bar.close()
    return records, seen
