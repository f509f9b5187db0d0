"""The report's tables: the paper's table of the protocol with the runs
beside it, the runs side by side, and the folds of each run.
"""
import collections

from microattention import paper
from microattention.report import best_epoch
from microattention.report.load import NET_LABELS

METRIC_NAMES = collections.OrderedDict([
    ("war", "WAR"), ("uar", "UAR"), ("f1_megc2018", "F1 (MEGC 2018)"),
    ("uf1_megc2019", "UF1 (MEGC 2019)")])
PAPER_TABLE = {"hde": "Table 2", "cde": "Tables 4 and 5", "loso": "Table 6",
               "pretrain": "section 4.1/4.2 (pre-training validation accuracy)"}


# ------------------------------------------------------------------ formatting


def _f3(value):
    return "–" if value is None else "%.3f" % value


def ours_label(run):
    text = "%s, this run" % run.label
    if not run.complete:
        text += " (PARTIAL: %s)" % run.status().split(" - ")[0]
    return text


def number_text(x):
    """Rates as the paper prints them (1e-4), other numbers plainly."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return "%d" % x
    if isinstance(x, float):
        if x != 0 and abs(x) < 0.1:
            mantissa, exponent = ("%.0e" % x).split("e")
            short = "%se%d" % (mantissa, int(exponent))
            return short if float(short) == x else repr(x)
        return "%g" % x
    return str(x)


# ------------------------------------------------------------------ paper tables


def section_hde(runs):
    """Table 2: WAR and UAR per test database."""
    tests = ("samm", "casme2")
    header = ["method"] + ["%s, test %s" % (m, paper.DATASET_LABELS[t])
                           for m in ("WAR", "UAR") for t in tests]
    rows = []
    for key, values in paper.TABLE2.items():
        rows.append([paper.METHODS[key]] + [_f3(values[t][m]) for m in ("war", "uar")
                                            for t in tests])
    for run in runs:
        by_test = {}
        for fold in run.folds:
            test = fold.id.split("-to-")[-1]
            by_test[test] = run.fold_metrics(fold.id)
        cells = []
        for m in ("war", "uar"):
            for t in tests:
                entry = by_test.get(t)
                cells.append(_f3(entry[m]) if entry else "not done")
        rows.append([ours_label(run)] + cells)
    return [("h", 2, "Table 2 (HDE): WAR and UAR per test database"),
            ("p", "Each column names the *test* database; the other one is the training set. "
                  "Rows marked \"this run\" are ours (fold `casme2-to-samm` tests SAMM, "
                  "`samm-to-casme2` tests CASME II); the others are the paper's, as printed."),
            ("table", header, rows)]


def section_cde(runs):
    header = ["method", "accuracy (WAR)", "F1 (paper) / UF1, MEGC 2019 (ours)",
              "F1, MEGC 2018 (ours only)", "UAR (ours only)"]
    rows = [[paper.METHODS[k], _f3(v["accuracy"]), _f3(v["f1"]), "", ""]
            for k, v in paper.TABLE4.items()]
    for run in runs:
        p = run.result["pooled"] if run.result else None
        rows.append([ours_label(run)] + ([_f3(p["war"]), _f3(p["uf1_megc2019"]),
                                           _f3(p["f1_megc2018"]), _f3(p["uar"])]
                                          if p else ["not done"] * 4))
    blocks = [("h", 2, "Table 4 (CDE): accuracy and F1"),
              ("p", "The paper's F1 of Table 4 equals the pooled UF1 (MEGC 2019 definition) "
                    "of its Table 5 confusion matrix, not the MEGC 2018 F1 (see "
                    "docs/paper-setup.md, section 5): our UF1 (MEGC 2019) stands beside it; "
                    "our F1 (MEGC 2018) is given in its own column. All pooled over the "
                    "folds' predictions."),
              ("table", header, rows),
              ("h", 2, "Table 5 (CDE): confusion matrix, percent of each true class")]
    names = list(paper.CLASSES)
    table5 = [list(r) for r in paper.TABLE5]
    blocks.append(("p", "The paper's Table 5 (micro-attention), as printed; rows true class, "
                        "columns predicted:"))
    blocks.append(("table", ["true \\ predicted"] + names,
                   [[names[i]] + ["%.2f" % v for v in table5[i]] for i in range(len(names))]))
    for run in runs:
        if not run.result:
            blocks.append(("p", "%s: no finished fold, no confusion matrix." % ours_label(run)))
            continue
        ours = run.result["pooled"]["confusion_percent"]
        counts = run.result["pooled"]["confusion"]
        if sorted(run.classes) != sorted(names):
            blocks.append(("p", "%s: classes %s are not Table 5's; no side-by-side."
                           % (ours_label(run), ", ".join(run.classes))))
            continue
        order = [run.classes.index(n) for n in names]
        rows = []
        for i, name in enumerate(names):
            cells = []
            for j in range(len(names)):
                value = ours[order[i]][order[j]]
                mine = "–" if value != value else "%.2f" % value
                cells.append("%s (%.2f)" % (mine, table5[i][j]))
            rows.append([name] + cells + [str(sum(counts[order[i]]))])
        blocks.append(("p", "%s: ours (paper's Table 5 in brackets%s); the last column is "
                            "our number of test samples of the class." % (
                                ours_label(run), "" if run.net == "micro_attention"
                                else "; Table 5 is the paper's micro-attention net, not %s"
                                % run.net)))
        blocks.append(("table", ["true \\ predicted"] + names + ["samples"], rows))
    return blocks


def section_loso(runs):
    dbs = ("samm", "casme2", "smic")
    header = ["method"]
    for d in dbs:
        header += ["%s accuracy" % paper.DATASET_LABELS[d],
                   "%s F1 (paper) / UF1 (ours)" % paper.DATASET_LABELS[d]]
    rows = [[paper.METHODS[k]] + [_f3(v[d][m]) for d in dbs for m in ("accuracy", "f1")]
            for k, v in paper.TABLE6.items()]
    # one row per net; runs of one net on different databases share it
    ours = []   # [label, {db: run}]
    other = []
    for run in runs:
        found = run.datasets()
        db = found[0] if len(found) == 1 and found[0] in dbs else None
        if db is None:
            other.append((run, found))
            continue
        for entry in ours:
            if entry[0] == run.net and db not in entry[1]:
                entry[1][db] = run
                break
        else:
            ours.append([run.net, {db: run}])
    nets_seen = collections.Counter(net for net, _ in ours)
    sources = []
    for number, (net, by_db) in enumerate(ours, start=1):
        members = list(by_db.values())
        label = NET_LABELS.get(net, net)
        if nets_seen[net] > 1:
            label += " (%d)" % number
        sources.append("%s: %s" % (label, "; ".join(
            "%s from `%s`" % (paper.DATASET_LABELS.get(d, d), r.path) for d, r in by_db.items())))
        partial = [r for r in members if not r.complete]
        label += ", this run"
        if partial:
            label += " (PARTIAL: %s)" % "; ".join(
                "%s %s" % (paper.DATASET_LABELS.get(d, d), r.status().split(" - ")[0])
                for d, r in by_db.items() if not r.complete)
        cells = []
        for d in dbs:
            r = by_db.get(d)
            p = r.result["pooled"] if r is not None and r.result else None
            cells += [_f3(p["war"]), _f3(p["uf1_megc2019"])] if p else (
                ["not run", "not run"] if r is None else ["not done", "not done"])
        rows.append([label] + cells)
    blocks = [("h", 2, "Table 6 (LOSO): accuracy and F1 per database"),
              ("p", "Leave one subject out on each database alone, pooled over the folds. "
                    "Beside the paper's F1 stands our UF1 (MEGC 2019), the definition that "
                    "reproduces Table 4 (docs/paper-setup.md, section 5); our F1 (MEGC 2018) "
                    "is in the side-by-side table of the runs."),
              ("table", header, rows),
              ("list", ["rows \"this run\": " + text for text in sources])]
    for run, found in other:
        blocks.append(("p", "%s tests %s, not one of the paper's databases; it is in the "
                            "side-by-side table only." % (run.label, ", ".join(found))))
    return blocks


def section_pretrain(runs):
    rows = [["paper (section 4.2)", "%.2f %%" % (100 * paper.PRETRAIN_VALIDATION_ACCURACY), ""]]
    for run in runs:
        p = run.result["pooled"] if run.result else None
        rows.append([ours_label(run), "%.2f %%" % (100 * p["war"]) if p else "not done",
                     str(p["samples"]) if p else ""])
    return [("h", 2, "Pre-training: validation accuracy"),
            ("p", "Accuracy of the ResNet-10 without attention on the held-out tenth of the "
                  "macro-expression images, five classes."),
            ("table", ["", "validation accuracy", "held-out images"], rows)]


SECTIONS = {"hde": section_hde, "cde": section_cde, "loso": section_loso,
            "pretrain": section_pretrain}


# ------------------------------------------------------------------ side by side


def section_runs(runs):
    header = ["run", "net", "folder", "folds", "test samples"] + list(METRIC_NAMES.values()) \
        + [best_epoch.RUN_LABEL, "epochs", "seed"]
    rows = []
    for run in runs:
        p = run.result["pooled"] if run.result else None
        rows.append([ours_label(run), "`%s`" % run.net, str(run.path), run.status(),
                     str(p["samples"]) if p else "0"]
                    + [_f3(p[k]) if p else "not done" for k in METRIC_NAMES]
                    + [best_epoch.war_cell(run)]
                    + [str(run.settings.get("epochs")), str(run.settings.get("seed"))])
    return [("h", 2, "The runs side by side"),
            ("p", "Pooled over the finished folds' predictions (one confusion matrix per "
                  "run) of the final snapshots. WAR is the paper's accuracy; F1 (MEGC 2018) = "
                  "2PR/(P+R) of the macro precision and recall; UF1 (MEGC 2019) = mean of "
                  "per-class 2TP/(2TP+FP+FN), the F1 the paper's tables match."),
            ("table", header, rows),
            ("p", best_epoch.NOTE)] + [
                ("p", best_epoch.BN_NOTE % run.label) for run in runs
                if run.settings.get("bn_recalibration")]


# ------------------------------------------------------------------ folds, figures


def section_folds(run):
    header = ["fold", "status", "test samples"] + list(METRIC_NAMES.values()) + [
        best_epoch.LABEL]
    rows = []
    done_ids = {f.id for f in run.done_folds}
    ids = [f.id for f in run.folds]
    if run.expected is not None:
        ids = list(run.expected) + [i for i in ids if i not in run.expected]
    present = {f.id for f in run.folds}
    for fold_id in ids:
        entry = run.fold_metrics(fold_id)
        if fold_id in done_ids and entry is not None:
            rows.append([fold_id, "done", str(entry["samples"])]
                        + [_f3(entry[k]) for k in METRIC_NAMES]
                        + [best_epoch.fold_cell(run, fold_id)])
        else:
            status = "not done (started)" if fold_id in present else "not started"
            if run.expected is not None and fold_id not in run.expected:
                status += "; not a fold of the run's index"
            rows.append([fold_id, status, ""] + [""] * (len(METRIC_NAMES) + 1))
    if run.result:
        pooled = run.result["pooled"]
        tag = "" if run.complete else " (PARTIAL)"
        rows.append(["pooled" + tag, "", str(pooled["samples"])]
                    + [_f3(pooled[k]) for k in METRIC_NAMES] + [best_epoch.war_cell(run)])
        if len(run.result["folds"]) > 1:
            mean = run.result["fold_mean"]
            rows.append(["mean over %d folds%s" % (len(run.result["folds"]), tag), "", ""]
                        + [_f3(mean[k]) for k in METRIC_NAMES] + [""])
    return [("h", 3, "Per fold"),
            ("p", "Folds: %s (the number of folds from %s). Class means over the classes "
                  "present in each fold's true labels; the pooled row is the run's result, the "
                  "mean over folds is given for reference only. The last column is NOT a "
                  "result: the fold's highest test accuracy Caffe logged at an epoch's end, "
                  "and that epoch (see the side-by-side table's note)." % (
                      run.status(), run.expected_source)),
            ("table", header, rows)]

