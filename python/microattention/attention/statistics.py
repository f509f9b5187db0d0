"""Statistics of held-out AU-region scores (the Figure 4 claim as a number):
per-person means, percentile bootstrap intervals over people, the verdict
of an interval, and each map against the baseline's person by person.
"""
import collections

import numpy as np

from microattention.attention.maps import FEATURE

# The Figure 4 claim as a number: each held-out face's lift, averaged per
# person (faces of one person are not independent), then over people, with a
# percentile bootstrap interval that resamples people.
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_LEVEL = 0.95
BOOTSTRAP_SEED = 0
NO_PREFERENCE = "no preference"
# A percentile bootstrap over fewer people has too few distinct resamples to
# mean anything (1 person: a zero-width interval); no verdict below this.
MIN_PEOPLE = 5


def bootstrap_interval(values, resamples=BOOTSTRAP_RESAMPLES, level=BOOTSTRAP_LEVEL,
                       seed=BOOTSTRAP_SEED):
    """(mean, low, high): the mean of per-person values and the percentile
    interval of the means of `resamples` resamples of the people (with
    replacement), from a fixed seed: the same values give the same bytes."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or not len(values):
        raise ValueError("bootstrap needs a non-empty list of per-person values")
    if not np.all(np.isfinite(values)):
        raise ValueError("bootstrap values must be finite: %s" % values)
    if not 0 < level < 1:
        raise ValueError("interval level %r is not in (0, 1)" % (level,))
    rng = np.random.RandomState(seed)
    picks = rng.randint(0, len(values), size=(int(resamples), len(values)))
    means = values[picks].mean(axis=1)
    tail = 100.0 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(values.mean()), float(low), float(high)


def too_few(people):
    return "too few people for a verdict (%d < %d)" % (people, MIN_PEOPLE)


def preference(low, high, people=MIN_PEOPLE):
    """What a lift interval over `people` says: toward or away from the AU
    regions, or no preference when it contains 1."""
    if people < MIN_PEOPLE:
        return too_few(people)
    if low > 1:
        return "AU regions"
    if high < 1:
        return "away from AU regions"
    return NO_PREFERENCE


def person_means(records, field):
    """OrderedDict person -> mean of records' `field` over that person's
    faces (records without a score are left out)."""
    sums = collections.OrderedDict()
    for r in records:
        if r.get("score") is None:
            continue
        s = sums.setdefault(r["person"], [0.0, 0])
        s[0] += float(r[field])
        s[1] += 1
    return collections.OrderedDict((p, v[0] / v[1]) for p, v in sorted(sums.items()))


def _scored_groups(records):
    """{(regions, net, map): scored records}, in first-seen order."""
    groups = collections.OrderedDict()
    for r in records:
        if r.get("score") is not None:
            groups.setdefault((r["regions"], r["net"], r["map"]), []).append(r)
    return groups


def summarize_heldout(records, resamples=BOOTSTRAP_RESAMPLES, level=BOOTSTRAP_LEVEL,
                      seed=BOOTSTRAP_SEED):
    """One row per (regions, net, map) of the held-out face records (fields
    person, regions, net, map, resolution, score, area, lift): people, faces,
    mean score / area / lift over people and the bootstrap intervals of score
    and lift (the same resamples for both)."""
    groups = _scored_groups(records)
    rows = []
    for (regions, net, key), rs in groups.items():
        scores = person_means(rs, "score")
        lifts = person_means(rs, "lift")
        areas = person_means(rs, "area")
        score, score_low, score_high = bootstrap_interval(list(scores.values()), resamples,
                                                          level, seed)
        mean_lift, low, high = bootstrap_interval(list(lifts.values()), resamples, level, seed)
        rows.append(collections.OrderedDict([
            ("regions", regions), ("net", net), ("map", key),
            ("resolution", rs[0]["resolution"]), ("people", len(lifts)), ("faces", len(rs)),
            ("score", score), ("score_low", score_low), ("score_high", score_high),
            ("area", float(np.mean(list(areas.values())))),
            ("lift", mean_lift), ("lift_low", low), ("lift_high", high),
            ("preference", preference(low, high, len(lifts)))]))
    return rows


def paired_rows(records, baseline=("resnet10", FEATURE), resamples=BOOTSTRAP_RESAMPLES,
                level=BOOTSTRAP_LEVEL, seed=BOOTSTRAP_SEED):
    """Figure 4's comparison: per region set and per map of the other nets,
    the per-person lift minus the baseline map's lift on the same people,
    its mean over people and bootstrap interval (> 0: more on the AU regions
    than the baseline)."""
    groups = _scored_groups(records)
    rows = []
    for (regions, net, key), rs in groups.items():
        base = groups.get((regions,) + tuple(baseline))
        if base is None or (net, key) == tuple(baseline):
            continue
        mine, theirs = person_means(rs, "lift"), person_means(base, "lift")
        people = [p for p in mine if p in theirs]
        if not people:
            continue
        diff, low, high = bootstrap_interval([mine[p] - theirs[p] for p in people],
                                             resamples, level, seed)
        rows.append(collections.OrderedDict([
            ("regions", regions), ("net", net), ("map", key),
            ("baseline", "%s %s" % baseline), ("people", len(people)),
            ("difference", diff), ("low", low), ("high", high),
            ("verdict", too_few(len(people)) if len(people) < MIN_PEOPLE else
             "more than the baseline" if low > 0 else
             "less than the baseline" if high < 0 else "no difference")]))
    return rows
