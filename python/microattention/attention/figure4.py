"""The Figure 4 claim, measured (paper 4.4): do the micro-attention maps put
more of their mass on the action units of the expression than the baseline's
last feature map does?

Every LOSO test face is scored by the nets of the fold that held its person
out, so no score comes from a net that trained on that person. For each face,
each map (resnet10's last feature map; micro_attention's feature map and its
attention_64..512 maps) gets the AU-region score and lift of regions, over
two region sets:
  coded   the AUs coded for the clip (the index's au column, from the coding
          sheet); on demo data exactly the AUs the synthetic clip moves, i.e.
          where the expression is;
  class   the AUs the paper ties to the class (regions.REGION_AUS, Table 7).
The lifts are averaged per person, then over people with a bootstrap interval
that resamples people (statistics.summarize_heldout), and each attention map is
compared with the baseline's feature map person by person
(statistics.paired_rows). Written together into OUT: heldout.csv (one row per
net, map and region set), faces.csv (one row per face, net, map, region set),
heldout.md (the tables) and figure4-heldout.png (one held-out face per class).
"""
import collections
import csv
import io
import os
import sys

import numpy as np

from microattention import files
from microattention.attention import maps, regions, render, samples, statistics, tables
from microattention.errors import UserError
from microattention.datasets.index_file import read_index
from microattention.train import layout

NETS = ("resnet10", "micro_attention")      # the baseline first: Figure 4's order
REGION_SETS = ("coded", "class")
FACE_COLUMNS = ("fold", "person", "sample_id", "class", "regions", "aus", "net", "map",
                "resolution", "score", "area", "lift")
OUTPUTS = ("heldout.csv", "faces.csv", "heldout.md", "figure4-heldout.png")


def _aus(text):
    """'4+7' or 'AU4+AU7' -> (4, 7); AUs without a region are dropped."""
    out = []
    for part in str(text).replace(",", "+").split("+"):
        digits = "".join(ch for ch in part if ch.isdigit())
        if digits and int(digits) in regions.AU_LANDMARKS:
            out.append(int(digits))
    return tuple(sorted(set(out)))


def _ids(path):
    try:
        with open(str(path), encoding="utf-8") as handle:
            return handle.read().split()
    except OSError as exc:
        raise UserError("%s: cannot read: %s" % (path, exc.strerror or exc))


def _faces(faces_dir):
    path = os.path.join(str(faces_dir), "faces.csv")
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return {r["sample_id"]: r for r in csv.DictReader(handle)}, path
    except OSError as exc:
        raise UserError("%s: cannot read: %s" % (path, exc.strerror or exc))


def plan(run_dir, protocol, folds, index_csv, nets=NETS):
    """[(fold, {net: fold dir}, [test sample ids])], checked: every net has the
    fold's final weights and the same test list, and no test person is in
    that fold's training list (a held-out score must come from a net that
    never saw the person)."""
    rows = read_index(str(index_csv))
    out = []
    for fold in folds:
        dirs = collections.OrderedDict(
            (net, layout.fold_dir_of(run_dir, protocol, net, fold)) for net in nets)
        tests = None
        for net, d in dirs.items():
            if not (d / layout.FINAL_NAME).is_file():
                raise UserError("%s: no final.caffemodel; train fold %s of %s first"
                                % (d, fold, net))
            ids = _ids(d / "test.txt")
            if tests is not None and ids != tests:
                raise UserError("%s lists other test samples than %s"
                                % (d / "test.txt", dirs[nets[0]] / "test.txt"))
            tests = ids
            unknown = [s for s in ids if s not in rows]
            if unknown:
                raise UserError("%s: sample %s is not in %s" % (d / "test.txt", unknown[0],
                                                                index_csv))
            held = {rows[s]["subject"] for s in ids}
            seen = [s for s in _ids(d / "train.txt") if s in rows
                    and rows[s]["subject"] in held]
            if seen:
                raise UserError("%s: sample %s of held-out person %s is in the fold's "
                                "training list; its scores would not be held out"
                                % (d / "train.txt", seen[0], rows[seen[0]]["subject"]))
        out.append((fold, dirs, tests))
    return out, rows


def _picked(folds_plan, rows, per_class=1):
    """Faces for the picture: per class with AU regions, the middle frame of a
    test clip, a person not yet shown when there is one."""
    clips = collections.OrderedDict()
    for _, _, tests in folds_plan:
        for sid in tests:
            r = rows[sid]
            clips.setdefault((r["label"], r["subject"], r["clip"]), []).append(sid)
    chosen, people = [], set()
    for label in regions.REGION_AUS:
        options = [(k, v) for k, v in clips.items() if k[0] == label]
        options.sort(key=lambda kv: (kv[0][1] in people, kv[0][1], kv[0][2]))
        for (_, person, _), sids in options[:per_class]:
            chosen.append(sids[len(sids) // 2])
            people.add(person)
    return chosen


def heldout_records(folds_plan, rows, faces_dir, picture=(), progress=True):
    """(face records, picture panels): every test face of every fold through
    that fold's nets, scored over the region sets."""
    from tqdm import tqdm  # lazy: only the progress bar needs it (not on the host)
    faces, faces_csv = _faces(faces_dir)
    records, panels = [], collections.OrderedDict()
    total = sum(len(t) for _, _, t in folds_plan)
    bar = tqdm(total=total, unit="face", file=sys.stderr, disable=not progress)
    for fold, dirs, tests in folds_plan:
        loaded = [(net, maps.load_net(net, str(d / layout.FINAL_NAME),
                                      "fold %s" % fold)[0:2]) for net, d in dirs.items()]
        for sid in tests:
            panel = _face_records(fold, sid, rows[sid], faces.get(sid), faces_dir, faces_csv,
                                  loaded, records, sid in picture)
            if panel is not None:
                panels[sid] = panel
            bar.update(1)
        del loaded
    bar.close()
    return records, [panels[s] for s in picture if s in panels]


def _face_records(fold, sid, r, face_row, faces_dir, faces_csv, loaded, records, pictured):
    """One held-out face through the fold's `loaded` nets: its score records
    are appended to `records`; returns its picture panel when `pictured`."""
    if face_row is None or face_row.get("status") != "ok" or not face_row.get("landmarks"):
        raise UserError("%s: test sample %s of fold %s has no face crop with landmarks"
                        % (faces_csv, sid, fold))
    face = samples.read_face(os.path.join(str(faces_dir), face_row["crop"]), faces_csv)
    points = samples.read_pts(os.path.join(str(faces_dir), face_row["landmarks"]), faces_csv)
    region_aus = collections.OrderedDict()
    if r.get("au"):
        region_aus["coded"] = _aus(r["au"])
    if r["label"] in regions.REGION_AUS:
        region_aus["class"] = regions.REGION_AUS[r["label"]]
    masks = collections.OrderedDict(
        (k, regions.region_mask(points, aus, face.shape)) for k, aus in region_aus.items()
        if aus)
    panel_maps, preds = [], []
    for net_name, (net, classes) in loaded:
        face_maps, prob = maps.forward(net, face)
        k = int(np.argmax(prob))
        preds.append("%s: %s" % ("baseline" if net_name == "resnet10" else net_name,
                                 classes[k]))
        for region_set, mask in masks.items():
            for key, small, big, score, area in maps.score_maps(face_maps, mask, face.shape[0]):
                lift = regions.lift(score, area)
                records.append(collections.OrderedDict([
                    ("fold", fold), ("person", r["subject"]), ("sample_id", sid),
                    ("class", r["label"]), ("regions", region_set),
                    ("aus", "+".join(map(str, region_aus[region_set]))),
                    ("net", net_name), ("map", key),
                    ("resolution", "%dx%d" % small.shape[::-1]),
                    ("score", score), ("area", area), ("lift", lift)]))
                if pictured and region_set == list(masks)[0]:
                    panel_maps.append(("%s %s\nlift %.2f" % (
                        "baseline" if net_name == "resnet10" else "micro-att.",
                        key, lift), big))
    if not pictured:
        return None
    first = list(masks)[0] if masks else None
    return {
        "title": "%s (%s), fold %s\n%s AU%s\n%s" % (
            r["label"], r["subject"], fold, first or "",
            "+".join(map(str, region_aus.get(first, ()))), "\n".join(preds)),
        "face": face, "points": points,
        "mask": masks[first] if first else None, "maps": panel_maps}


def faces_table(records):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FACE_COLUMNS)
    for r in records:
        writer.writerow([("%.4f" % r[c]) if isinstance(r[c], float) else r[c]
                         for c in FACE_COLUMNS])
    return out.getvalue()


def measure(run_dir, folds, index_csv, faces_dir, out_dir, protocol="loso",
            nets=NETS, note="", resamples=statistics.BOOTSTRAP_RESAMPLES,
            level=statistics.BOOTSTRAP_LEVEL, seed=statistics.BOOTSTRAP_SEED, progress=True):
    """Score the held-out faces of `folds` and write OUTPUTS into out_dir (all
    together or none). Returns (summary rows, paired rows, written paths)."""
    folds_plan, rows = plan(run_dir, protocol, folds, index_csv, nets)
    picture = _picked(folds_plan, rows)
    records, panels = heldout_records(folds_plan, rows, faces_dir, picture, progress)
    if not records:
        raise UserError("no held-out face of folds %s has AU regions to score"
                        % ", ".join(folds))
    summary = statistics.summarize_heldout(records, resamples, level, seed)
    paired = statistics.paired_rows(records, (nets[0], maps.FEATURE), resamples, level,
                                    seed)
    csv_text, table = tables.heldout_tables(summary, level, resamples)
    people = sorted({r["person"] for r in records})
    md = ["# AU-region lift of held-out faces (the Figure 4 claim)", ""]
    if note:
        md += [note, ""]
    md += ["%d held-out people (%s), %d faces, LOSO folds %s; each face scored by the nets "
           "of the fold that held its person out." % (
               len(people), ", ".join(people), len({r["sample_id"] for r in records}),
               ", ".join(folds)), "",
           "Region sets: coded = the AUs coded for the clip (on demo data: the AUs it "
           "moves); class = the paper's AUs of the class (Table 7 / objective classes).",
           "", table,
           "## Each map against the baseline's feature map, person by person", "",
           tables.paired_table(paired, level)]
    out = {os.path.join(str(out_dir), "heldout.csv"): csv_text,
           os.path.join(str(out_dir), "faces.csv"): faces_table(records),
           os.path.join(str(out_dir), "heldout.md"): "\n".join(md)}
    if panels:
        out[os.path.join(str(out_dir), "figure4-heldout.png")] = render.heldout_figure(
            panels, "held-out faces (LOSO test): baseline resnet10 and micro-attention maps, "
                    "AU regions outlined; each map on its own colour scale")
    written = files.write_together(out)
    return summary, paired, written
