"""Statistics of held-out region scores (the Figure 4 claim as a number):
the per-face AUC of a map inside vs outside a region, per-person means, a
t-interval over people, and the one verdict rule every row gets.
"""
import collections

import numpy as np

from microattention.attention.maps import ATTENTION

ATTENTION_PREFIX = ATTENTION.split("%")[0]
LEVEL = 0.95
# A verdict needs at least this many held-out people: the t-interval's
# coverage rests on the person means being roughly normal, which a handful
# of people cannot show, and below 6 the interval is too wide to tell a
# preference of the size Figure 4 implies from none.
MIN_PEOPLE = 6
# An attention unit whose learned weights changed by less than this share of
# their norm (mean over the folds) is taken as not moved: its maps are those
# of its starting draw, and say nothing about what training makes it attend to.
MOVED = 0.05
PREFERS, AVOIDS, NO_PREFERENCE, UNTESTED = "prefers", "avoids", "no preference", "untested"


def auc(map_, mask):
    """The probability that a pixel inside the region has a higher map value
    than one outside (ties count half): the Mann-Whitney AUC, 0.5 = no
    preference, 1 = every inside pixel above every outside one. Unlike lift
    it has no offset: adding a constant to the map leaves it unchanged."""
    values = np.asarray(map_, np.float64).ravel()
    inside = np.asarray(mask, bool).ravel()
    if values.shape != inside.shape:
        raise ValueError("map %s and mask %s differ in shape"
                         % (np.shape(map_), np.shape(mask)))
    n_in = int(inside.sum())
    n_out = len(values) - n_in
    if not n_in or not n_out:
        raise ValueError("the region is empty or covers the whole face")
    # average ranks (ties share their mean rank)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mean_rank = ends - (counts - 1) / 2.0
    ranks = mean_rank[inverse]
    u = ranks[inside].sum() - n_in * (n_in + 1) / 2.0
    return float(u / (n_in * n_out))


def t_interval(values, level=LEVEL):
    """(mean, low, high): the mean of per-person values and Student's t
    interval (n - 1 degrees of freedom); (mean, nan, nan) for one person."""
    from scipy import stats  # lazy: scipy is slow to import and only this needs it
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or not len(values):
        raise ValueError("an interval needs a non-empty list of per-person values")
    if not np.all(np.isfinite(values)):
        raise ValueError("per-person values must be finite: %s" % values)
    if not 0 < level < 1:
        raise ValueError("interval level %r is not in (0, 1)" % (level,))
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) \
        / np.sqrt(len(values))
    return mean, float(mean - half), float(mean + half)


def verdict(auc_low, auc_high, people, moved=True):
    """The one rule of every row: 'untested' when fewer than MIN_PEOPLE
    people were held out or the units behind the map did not move (`moved`
    False) or are not known to have moved (None); else
    'prefers' / 'avoids' when the AUC interval lies above / below 0.5, 'no
    preference' when it holds 0.5."""
    if people < MIN_PEOPLE:
        return "%s (%d < %d people)" % (UNTESTED, people, MIN_PEOPLE)
    if moved is None:
        return "%s (the units' start weights are in no file)" % UNTESTED
    if not moved:
        return "%s (units did not move)" % UNTESTED
    if auc_low > 0.5:
        return PREFERS
    if auc_high < 0.5:
        return AVOIDS
    return NO_PREFERENCE


def person_means(records, field):
    """OrderedDict person -> mean of records' `field` over that person's
    faces (records without a value are left out)."""
    sums = collections.OrderedDict()
    for r in records:
        if r.get(field) is None:
            continue
        s = sums.setdefault(r["person"], [0.0, 0])
        s[0] += float(r[field])
        s[1] += 1
    return collections.OrderedDict((p, v[0] / v[1]) for p, v in sorted(sums.items()))


GROUP = ("net", "map", "regions", "state")


def _groups(records):
    """{(net, map, regions, state): scored records}, in first-seen order."""
    groups = collections.OrderedDict()
    for r in records:
        if r.get("auc") is not None:
            groups.setdefault(tuple(r[k] for k in GROUP), []).append(r)
    return groups


def _learning(changes, key, spreads):
    """(weight change, moved, mask spread) of a group: the mean over folds of
    its unit's relative weight change (None when it is not an attention map,
    or a fold's start weights do not hold the unit: then moved is None, not
    known), whether it reaches MOVED, and the mean per-face spread."""
    net, map_name, _, state = key
    spread = float(np.mean(spreads)) if spreads else None
    if not map_name.startswith(ATTENTION_PREFIX):
        # a feature map, or a map that is no learned unit (the tests' controls)
        return None, True, spread
    folds = [c.get((net, state, map_name)) for c in changes.values()]
    if not folds or any(v is None for v in folds):
        return None, None, spread
    change = float(np.mean(folds))
    return change, change >= MOVED, spread


def summarize_heldout(records, changes=None, level=LEVEL):
    """One row per (net, map, regions, state) of the held-out face records
    (fields person, net, map, regions, state, resolution, score, area, lift,
    auc, spread): people, faces, the means over people (each person's faces
    averaged first) of score, area, lift and AUC with t-intervals, the weight
    change and mask spread, and the verdict. `changes`: {fold: {(net, state,
    map): relative weight change}}."""
    rows = []
    for key, rs in _groups(records).items():
        lifts, aucs = person_means(rs, "lift"), person_means(rs, "auc")
        lift, lift_low, lift_high = t_interval(list(lifts.values()), level)
        mean_auc, auc_low, auc_high = t_interval(list(aucs.values()), level)
        spreads = [r["spread"] for r in rs if r.get("spread") is not None]
        change, moved, spread = _learning(changes or {}, key, spreads)
        rows.append(collections.OrderedDict(
            list(zip(GROUP, key)) + [
                ("resolution", rs[0]["resolution"]), ("people", len(aucs)),
                ("faces", len(rs)), ("weight_change", change), ("mask_spread", spread),
                ("area", float(np.mean(list(person_means(rs, "area").values())))),
                ("lift", lift), ("lift_low", lift_low), ("lift_high", lift_high),
                ("auc", mean_auc), ("auc_low", auc_low), ("auc_high", auc_high),
                ("verdict", verdict(auc_low, auc_high, len(aucs), moved))]))
    return rows
