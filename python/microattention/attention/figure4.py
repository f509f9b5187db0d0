"""The Figure 4 claim, measured (paper 4.4): do the micro-attention maps
point at where the face moves?

Every LOSO test face is scored by the nets of the fold that held its person
out, so no score comes from a net that trained on that person, in two
training states: "trained" (the fold's final weights) and "iteration 0" (the
weights the fold started from, found through its provenance.json: the
control, scored with the same code). Each map (resnet10's last feature map;
micro_attention's feature map and attention_64..512) is scored on three
region sets (heldout.REGION_SETS):
  truth    where the clip changes, given per clip by the caller (on demo
           data the generator's own |apex - neutral|, demo/data/truth.py);
  coded    the hulls of the AUs coded for the clip (the index's au column);
  placebo  another class's AU hulls on the same face, minus the two above.
Per face: score, area, lift and the AUC inside vs outside; per person the
mean; over people the mean with a t-interval; per row the attention units'
weight change (learning.weight_change) and mask spread, and one verdict
(statistics.verdict). Written together into OUT: heldout.csv, faces.csv,
heldout.md and figure4-heldout.png (one held-out face per class).
"""
import collections
import csv
import io
import os

from microattention import files
from microattention.attention import heldout, learning, maps, regions, render, statistics
from microattention.attention import tables
from microattention.errors import UserError
from microattention.datasets.index_file import read_index
from microattention.train import layout

NETS = ("resnet10", "micro_attention")      # the baseline first: Figure 4's order
START, TRAINED = "iteration 0", "trained"
STATES = (START, TRAINED)
OUTPUTS = ("heldout.csv", "faces.csv", "heldout.md", "figure4-heldout.png")
FoldNet = collections.namedtuple("FoldNet", "dir final start seed")


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


def start_weights(fold_dir):
    """(start caffemodel, seed) of a trained fold: the weights its
    provenance.json names as input (checked against the sha256 its settings
    recorded) and its seed."""
    prov_path = fold_dir / layout.PROVENANCE_NAME
    prov = files.read_json(prov_path, missing="%s not found: the fold's start weights are "
                                              "unknown" % prov_path)
    settings = prov.get("settings") or {}
    start = (prov.get("inputs") or {}).get("weights")
    if not start:
        raise UserError("%s names no input weights" % prov_path)
    if not os.path.isfile(start):
        raise UserError("%s: the fold's start weights %s are gone; the iteration-0 control "
                        "needs them" % (prov_path, start))
    if settings.get("weights_sha256") and files.sha256(start) != settings["weights_sha256"]:
        raise UserError("%s: the start weights %s changed since the fold was trained "
                        "(sha256 differs from its settings)" % (prov_path, start))
    return start, int(settings.get("seed", 0))


def plan(run_dir, protocol, folds, index_csv, nets=NETS):
    """[(fold, {net: FoldNet}, [test sample ids])], checked: every net has the
    fold's final weights, its start weights and the same test list, and no
    test person is in that fold's training list (a held-out score must come
    from a net that never saw the person)."""
    rows = read_index(str(index_csv))
    out = []
    for fold in folds:
        dirs = collections.OrderedDict(
            (net, layout.fold_dir_of(run_dir, protocol, net, fold)) for net in nets)
        tests, fold_nets = None, collections.OrderedDict()
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
            fold_nets[net] = FoldNet(d, d / layout.FINAL_NAME, *start_weights(d))
        out.append((fold, fold_nets, tests))
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


def net_sources(folds_plan, states=STATES):
    """sources_of(fold) for heldout.score_samples: the fold's nets in each
    state, as map sources (net, state, forward)."""
    by_fold = {fold: fold_nets for fold, fold_nets, _ in folds_plan}

    def sources_of(fold):
        out = []
        for net, f in by_fold[fold].items():
            for state in states:
                if state == TRAINED:
                    loaded = maps.load_net(net, str(f.final), "fold %s" % fold)[0]
                else:
                    loaded = maps.load_start_net(net, str(f.start), str(f.final), f.seed,
                                                 "fold %s start weights" % fold)[0]
                out.append((net, state, lambda face, n=loaded: maps.forward(n, face)))
        return out
    return sources_of


def weight_changes(folds_plan, states=STATES):
    """{fold: {(net, state, attention map): relative weight change}}: 0 at
    iteration 0; trained, against the fold's start weights (None where the
    start file does not hold the unit, i.e. its starting draw is unknown)."""
    out = collections.OrderedDict()
    for fold, fold_nets, _ in folds_plan:
        changes = out.setdefault(fold, {})
        for net, f in fold_nets.items():
            moved = learning.weight_change(str(f.start), str(f.final), net, unknown_start=True)
            for stage, change in moved.items():
                if START in states:
                    changes[(net, START, stage)] = 0.0
                if TRAINED in states:
                    changes[(net, TRAINED, stage)] = change
    return out


def faces_table(records):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(heldout.FACE_COLUMNS)
    for r in records:
        writer.writerow([tables.fmt(r[c]) if isinstance(r[c], float) or r[c] is None
                         else r[c] for c in heldout.FACE_COLUMNS])
    return out.getvalue()


def _panels(seen, rows, folds_of):
    """Picture panels of the pictured faces: the trained nets' maps."""
    panels = []
    for sid, (face, points, masks, shown) in seen.items():
        first = next(iter(masks), None)
        r = rows[sid]
        panel_maps = [("%s %s\nlift %.2f" % ("baseline" if net == "resnet10" else "micro-att.",
                                             key, lifts.get(first, float("nan"))), big)
                      for net, state, key, big, lifts in shown if state == TRAINED]
        panels.append({
            "title": "%s (%s), fold %s\n%s %s" % (r["label"], r["subject"], folds_of[sid],
                                                 first or "", masks[first][1] if first else ""),
            "face": face, "points": points,
            "mask": masks[first][0] if first else None, "maps": panel_maps})
    return panels


def measure(run_dir, folds, index_csv, faces_dir, out_dir, protocol="loso", nets=NETS,
            note="", truth=None, level=statistics.LEVEL, progress=True, states=STATES):
    """Score the held-out faces of `folds` and write OUTPUTS into out_dir (all
    together or none). `truth`: {(subject, clip): mask image in frame pixels}
    of where each clip changes, or None (then no 'truth' rows). Returns
    (summary rows, records, written paths)."""
    folds_plan, rows = plan(run_dir, protocol, folds, index_csv, nets)
    picture = _picked(folds_plan, rows)
    chosen = [(fold, sid, rows[sid]) for fold, _, tests in folds_plan for sid in tests]
    records, seen = heldout.score_samples(chosen, net_sources(folds_plan, states),
                                          _faces(faces_dir), faces_dir, truth, picture,
                                          progress)
    if not records:
        raise UserError("no held-out face of folds %s has a region to score" % ", ".join(folds))
    changes = weight_changes(folds_plan, states)
    summary = statistics.summarize_heldout(records, changes, level)
    csv_text, table = tables.heldout_tables(summary, level)
    people = sorted({r["person"] for r in records})
    faces = len({r["sample_id"] for r in records})
    md = tables.heldout_markdown(summary, table, people, faces, folds, note, changes,
                                 truth is not None)
    out = {os.path.join(str(out_dir), "heldout.csv"): csv_text,
           os.path.join(str(out_dir), "faces.csv"): faces_table(records),
           os.path.join(str(out_dir), "heldout.md"): md}
    panels = _panels(seen, rows, {sid: fold for fold, sid, _ in chosen})
    if panels and any(p["maps"] for p in panels):
        out[os.path.join(str(out_dir), "figure4-heldout.png")] = render.heldout_figure(
            panels, "held-out faces (LOSO test), trained nets: baseline resnet10 and "
                    "micro-attention maps, first region set outlined; each map on its own "
                    "colour scale")
    written = files.write_together(out)
    return summary, records, written

