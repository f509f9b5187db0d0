"""The text outputs of the attention stage: scores.csv / scores.md of the
visualize command, and the held-out tables of Figure 4 (heldout.csv, the
Markdown tables of heldout.md).
"""
import collections
import csv
import io

import numpy as np

from microattention.attention.regions import AU_LANDMARKS, AU_MARGIN
from microattention.attention.statistics import BOOTSTRAP_LEVEL, BOOTSTRAP_RESAMPLES

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


def paired_table(rows, level=BOOTSTRAP_LEVEL):
    pct = int(round(100 * level))
    md = ["| net | map | regions | people | lift minus %s [%d %% CI] | verdict |"
          % (rows[0]["baseline"] if rows else "baseline", pct), "|---|---|---|---:|---|---|"]
    for r in rows:
        md.append("| %s | %s | %s | %d | %+.2f [%+.2f, %+.2f] | %s |" % (
            r["net"], r["map"], r["regions"], r["people"], r["difference"], r["low"],
            r["high"], r["verdict"]))
    return "\n".join(md) + "\n"


HELDOUT_COLUMNS = ("regions", "net", "map", "resolution", "people", "faces", "score",
                   "score_low", "score_high", "area", "lift", "lift_low", "lift_high",
                   "preference")


def heldout_tables(rows, level=BOOTSTRAP_LEVEL, resamples=BOOTSTRAP_RESAMPLES):
    """(CSV text, Markdown table text) of summarize_heldout's rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HELDOUT_COLUMNS)
    for r in rows:
        writer.writerow([fmt(r[c]) if isinstance(r[c], float) else r[c]
                         for c in HELDOUT_COLUMNS])
    pct = int(round(100 * level))
    md = ["| net | map | regions | people | faces | score [%d %% CI] | area | "
          "lift [%d %% CI] | preference |" % (pct, pct),
          "|---|---|---|---:|---:|---|---:|---|---|"]
    for r in rows:
        md.append("| %s | %s (%s) | %s | %d | %d | %.3f [%.3f, %.3f] | %.3f | "
                  "%.2f [%.2f, %.2f] | %s |" % (
                      r["net"], r["map"], r["resolution"], r["regions"], r["people"],
                      r["faces"], r["score"], r["score_low"], r["score_high"], r["area"],
                      r["lift"], r["lift_low"], r["lift_high"], r["preference"]))
    md += ["", "score: share of the map's mass inside the AU regions; area: the regions' "
           "share of the face (a uniform map's score); lift = score / area (1 = no "
           "preference). Means over held-out people (each person's faces averaged first); "
           "%d %% percentile bootstrap intervals from %d resamples of the people."
           % (pct, resamples)]
    return out.getvalue(), "\n".join(md) + "\n"
