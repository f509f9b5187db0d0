"""The text outputs of the attention stage: scores.csv / scores.md of the
visualize command, and the held-out tables of Figure 4 (heldout.csv and
heldout.md).
"""
import collections
import csv
import io

import numpy as np

from microattention.attention.regions import AU_LANDMARKS, AU_MARGIN
from microattention.attention.statistics import LEVEL, MIN_PEOPLE, MOVED

CSV_COLUMNS = ("sample_id", "class", "aus", "net", "map", "resolution", "score", "area", "lift")


def fmt(value):
    """A score as the tables write it: '' for none, 'nan', or 4 decimals."""
    return "" if value is None else ("nan" if value != value else "%.4f" % value)


def scores_tables(records):
    """(CSV text, Markdown text) of the score records."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        writer.writerow([r["sample_id"], r["class"], r["aus"], r["net"], r["map"],
                         r["resolution"], fmt(r["score"]), fmt(r["area"]), fmt(r["lift"])])
    md = ["# Map mass on the action units of the sample's class", "",
          "score: share of the map's mass inside the AU regions; area: the regions' share "
          "of the face (the score of a uniform map); lift = score / area. AU regions: "
          "microattention.visualize.AU_LANDMARKS, margin %.2f inter-ocular distances." % AU_MARGIN,
          "", "## Per class", "",
          "| class | AUs | net | map | samples | mean score | mean area | mean lift |",
          "|---|---|---|---|---:|---:|---:|---:|"]
    groups = collections.OrderedDict()
    for r in records:
        if r["score"] is not None:
            groups.setdefault((r["class"], r["aus"], r["net"], r["map"]), []).append(r)
    for (cls, coded, net, key), rs in groups.items():
        md.append("| %s | %s | %s | %s | %d | %s | %s | %s |" % (
            cls, coded, net, key, len(rs),
            fmt(float(np.mean([r["score"] for r in rs]))),
            fmt(float(np.mean([r["area"] for r in rs]))),
            fmt(float(np.mean([r["lift"] for r in rs])))))
    used = sorted({int(a) for r in records if r["aus"] for a in r["aus"].split("+")})
    if used:
        md += ["", "## AU regions", "",
               "Convex hull per face side of these iBUG points (0-based), dilated by %.2f "
               "inter-ocular distances." % AU_MARGIN, "",
               "| AU | landmarks |", "|---|---|"]
        md += ["| AU%d | %s |" % (au, " ".join(map(str, AU_LANDMARKS[au]))) for au in used]
    md += ["", "## Per sample", "",
           "| sample | class | net | map | score | area | lift |", "|---|---|---|---|---:|---:|---:|"]
    for r in records:
        md.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["sample_id"], r["class"] or "-", r["net"], r["map"],
            fmt(r["score"]) or "-", fmt(r["area"]) or "-", fmt(r["lift"]) or "-"))
    return out.getvalue(), "\n".join(md) + "\n"


HELDOUT_COLUMNS = ("net", "map", "regions", "state", "resolution", "people", "faces",
                   "weight_change", "mask_spread", "area", "lift", "lift_low", "lift_high",
                   "auc", "auc_low", "auc_high", "verdict")


def _num(value, pattern):
    return "-" if value is None or value != value else pattern % value


def heldout_tables(rows, level=LEVEL):
    """(CSV text, Markdown table text) of statistics.summarize_heldout's rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HELDOUT_COLUMNS)
    for r in rows:
        writer.writerow([fmt(r[c]) if isinstance(r[c], float) or r[c] is None else r[c]
                         for c in HELDOUT_COLUMNS])
    pct = int(round(100 * level))
    md = ["| net | map | regions | state | people | faces | weight change | mask spread | "
          "lift [%d %% CI] | AUC [%d %% CI] | verdict |" % (pct, pct),
          "|---|---|---|---|---:|---:|---:|---:|---|---|---|"]
    for r in rows:
        md.append("| %s | %s (%s) | %s | %s | %d | %d | %s | %s | %s [%s, %s] | "
                  "%s [%s, %s] | %s |" % (
                      r["net"], r["map"], r["resolution"], r["regions"], r["state"],
                      r["people"], r["faces"], _num(r["weight_change"], "%.3f"),
                      _num(r["mask_spread"], "%.4f"), _num(r["lift"], "%.2f"),
                      _num(r["lift_low"], "%.2f"), _num(r["lift_high"], "%.2f"),
                      _num(r["auc"], "%.3f"), _num(r["auc_low"], "%.3f"),
                      _num(r["auc_high"], "%.3f"), r["verdict"]))
    return out.getvalue(), "\n".join(md) + "\n"


def changes_table(changes):
    """Markdown: each fold's relative weight change per trained attention unit."""
    keys = sorted({(net, stage) for c in changes.values() for net, state, stage in c
                   if state == "trained"}, key=lambda k: (k[0], int(k[1].split("_")[-1])))
    if not keys:
        return ""
    md = ["| fold | %s |" % " | ".join("%s %s" % k for k in keys),
          "|---|%s" % ("---:|" * len(keys))]
    for fold, c in changes.items():
        md.append("| %s | %s |" % (fold, " | ".join(
            _num(c.get((net, "trained", stage)), "%.4f") for net, stage in keys)))
    return "\n".join(md) + "\n"


def heldout_markdown(rows, table, people, faces, folds, note, changes, with_truth,
                     level=LEVEL):
    """heldout.md: what was measured, each fold's weight changes, the table,
    and how to read it."""
    pct = int(round(100 * level))
    md = ["# Where the maps of held-out faces point (the Figure 4 claim)", ""]
    if note:
        md += [note, ""]
    md += ["%d held-out people (%s), %d faces, LOSO folds %s; each face scored by the nets "
           "of the fold that held its person out, as trained and at iteration 0 (the "
           "weights the fold started from: the control)." % (
               len(people), ", ".join(people), faces, ", ".join(folds)), "",
           "Region sets: truth = where the clip changes (the generator's thresholded "
           "|apex - neutral|, carried into the crop)%s; coded = the hulls of the AUs coded "
           "for the clip; placebo = another class's AU hulls on the same face, minus "
           "both (should show no preference)."
           % ("" if with_truth else " (not given for this run: no truth rows)"), "",
           "## Did the attention units move?", "",
           "Relative change ||W_trained - W_start|| / ||W_start|| of each unit's learned "
           "weights per fold ('-': the start weights do not hold the unit, its starting "
           "draw is in no file, so the change is unknown).", "",
           changes_table(changes) or "(no attention units)", "",
           "## The table", "", table,
           "AUC: the probability that a pixel inside the region has a higher map value "
           "than one outside (0.5 = no preference), per face, then per person, then over "
           "people. lift = the map's mass share inside the region / the region's area "
           "share (1 = no preference); it has an offset: a Sigmoid map never falls below "
           "its floor (near 0.5 untrained) and a ReLU map has zeros, so lifts of different "
           "maps do not compare; the AUC does not move when a constant is added to a map. "
           "Intervals: %d %% Student t over the person means (n - 1 degrees of freedom). "
           "Verdict (one rule, every row): untested when fewer than %d people or, for an "
           "attention map, when its unit's mean weight change over the folds is below %.2f "
           "or unknown (iteration 0 is by definition unmoved); else prefers / avoids when "
           "the AUC interval lies above / below 0.5, no preference when it holds 0.5. "
           "weight change: mean over folds; mask spread: mean over faces of the "
           "per-face standard deviation of the mask at its own resolution."
           % (pct, MIN_PEOPLE, MOVED), ""]
    return "\n".join(md)
