"""Metrics of the paper (eq. 3 and 4.2) from test-set predictions: WAR, UAR,
the two F1 definitions in use, and the confusion matrix of Table 5.

Prediction file (written by the training stage, one per protocol run or per
fold; several can be concatenated under one header):

  fold,sample_id,true_label,predicted_label,score_<class 0>,score_<class 1>,...

  fold             the fold id of the fold file (casme2-to-samm, samm_006, ...)
  sample_id        datasets.common.sample_id of the test sample
  true_label       integer class index (0-based) of the truth
  predicted_label  integer class index of the prediction (the one scored;
                   the scores are kept for later analysis and not checked
                   against it)
  score_<name>     the net's softmax output for each class
The class names, in class-index order, are the score columns of the header
(score_happiness, score_surprise, ... is class 0, 1, ...): no sidecar file.
A sample id appears once (each sample is tested in exactly one fold).

Definitions (counts from one confusion matrix; rows true, columns predicted):
  WAR   accuracy: correct predictions / samples.
  UAR   mean over classes of recall TP/(TP+FN).
  F1 (MEGC 2018)  harmonic mean of the macro precision and the macro recall
        (= UAR): 2PR/(P+R), the F1 of the MEGC 2018 code base.
  UF1 (MEGC 2019) mean over classes of 2TP/(2TP+FP+FN).
Class rule: every class mean (UAR, macro precision, UF1) is taken over the
classes that occur in the true labels of the set evaluated. A class absent
from the truth has no recall and is left out of all three means (its wrong
predictions still lower the WAR and the precision of no other class). A class
in the truth that is never predicted has precision 0 (0/0 taken as 0),
recall 0 and UF1 term 0.

Pooled versus per fold: by default the metrics are computed from the one
confusion matrix summed over all folds (as MEGC 2018 and 2019 do). With
per_fold=True each fold is also evaluated alone and the mean over folds is
given; per-fold means are markedly lower for leave-one-subject-out, where
one subject's test set holds few samples and few classes.
"""
import copy
import csv
import io
import math
from collections import OrderedDict

import numpy as np

from microattention import files
from microattention.errors import UserError
from microattention.naming import natural_key

COLUMNS = ["fold", "sample_id", "true_label", "predicted_label"]
SCORE_PREFIX = "score_"
METRICS = OrderedDict([
    ("war", "WAR (accuracy)"),
    ("uar", "UAR"),
    ("f1_megc2018", "F1 (MEGC 2018: 2PR/(P+R) of macro P and R)"),
    ("uf1_megc2019", "UF1 (MEGC 2019: mean of per-class 2TP/(2TP+FP+FN))"),
])


# ---------------------------------------------------------------- files

def predictions_csv(rows, class_names):
    """The text of a prediction file. `rows`: dicts with fold, sample_id,
    true_label, predicted_label and scores (a sequence, one per class)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS + [SCORE_PREFIX + name for name in class_names])
    for row in rows:
        scores = list(row["scores"])
        if len(scores) != len(class_names):
            raise ValueError("sample %s: %d scores for %d classes"
                             % (row["sample_id"], len(scores), len(class_names)))
        # %.9g keeps every float32 softmax output exactly
        writer.writerow([row["fold"], row["sample_id"], int(row["true_label"]),
                         int(row["predicted_label"])] + ["%.9g" % s for s in scores])
    return buffer.getvalue()


def write_predictions(path, rows, class_names):
    return files.atomic_write(path, predictions_csv(rows, class_names))


def read_predictions(path):
    """(rows, class_names) of a prediction file; rows are dicts with fold,
    sample_id, true_label, predicted_label (ints) and scores (floats)."""
    try:
        with open(str(path), newline="", encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise UserError("prediction file %s does not exist" % path)
    except UnicodeDecodeError:
        raise UserError("prediction file %s is not UTF-8 text" % path)
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise UserError("prediction file %s is empty (no header row)" % path)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise UserError("prediction file %s lacks the column(s) %s (expected %s, score_<class> "
                        "per class)" % (path, ", ".join(missing), ", ".join(COLUMNS)))
    score_cols = [i for i, c in enumerate(header) if c.startswith(SCORE_PREFIX)]
    class_names = [header[i][len(SCORE_PREFIX):] for i in score_cols]
    if len(class_names) < 2 or len(set(class_names)) != len(class_names):
        raise UserError("prediction file %s: the header must name each class once as "
                        "score_<class> (found %s)" % (path, ", ".join(class_names) or "none"))
    where = {c: header.index(c) for c in COLUMNS}
    rows = []
    for line, cells in enumerate(reader, start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise UserError("prediction file %s row %d: %d cells, the header has %d"
                            % (path, line, len(cells), len(header)))
        row = {"fold": cells[where["fold"]], "sample_id": cells[where["sample_id"]]}
        for column in ("true_label", "predicted_label"):
            value = cells[where[column]].strip()
            try:
                row[column] = int(value)
            except ValueError:
                raise UserError("prediction file %s row %d: %s %r is not a class index"
                                % (path, line, column, value))
        try:
            row["scores"] = [float(cells[i]) for i in score_cols]
        except ValueError:
            raise UserError("prediction file %s row %d: a score is not a number" % (path, line))
        row["_where"] = "prediction file %s row %d" % (path, line)
        rows.append(row)
    if not rows:
        raise UserError("prediction file %s holds no predictions" % path)
    _check_rows(rows, class_names, str(path))
    return rows, class_names


def _check_rows(rows, class_names, source):
    first = {}
    k = len(class_names)
    for i, row in enumerate(rows):
        where = row.get("_where") or "%s row %d" % (source, i + 1)
        for column in ("true_label", "predicted_label"):
            value = row[column]
            if not (isinstance(value, (int, np.integer)) and 0 <= value < k):
                raise UserError("%s: %s %r is not a class index 0..%d (%s)"
                                % (where, column, value, k - 1, ", ".join(class_names)))
        key = row.get("sample_id")
        if key is not None and key != "":
            if key in first:
                raise UserError("%s: sample %s was already tested in fold %s (each sample "
                                "belongs to one test fold)" % (where, key, first[key]))
            first[key] = row.get("fold")


# ---------------------------------------------------------------- metrics

def confusion(true, predicted, k):
    """k x k counts, rows true, columns predicted."""
    # lazy: scikit-learn loads slowly, only the metrics need it
    from sklearn.metrics import confusion_matrix
    return confusion_matrix(true, predicted, labels=list(range(k))).astype(np.int64)


def confusion_percent(matrix):
    """Each row as percent of its true samples (rows sum to 100); a row
    without true samples is NaN."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, 100.0 * matrix / totals, np.nan)


def scores(true, predicted, class_names):
    """The metrics of one set of predictions (see the module docstring)."""
    # lazy: scikit-learn loads slowly, only the metrics need it
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support
    true = np.asarray(true, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    k = len(class_names)
    present = sorted(set(true.tolist()))
    precision, recall, f1, _ = precision_recall_fscore_support(
        true, predicted, labels=present, average=None, zero_division=0)
    macro_p, macro_r = float(np.mean(precision)), float(np.mean(recall))
    matrix = confusion(true, predicted, k)
    result = OrderedDict()
    result["samples"] = int(len(true))
    result["war"] = float(accuracy_score(true, predicted))
    result["uar"] = macro_r
    result["f1_megc2018"] = 2 * macro_p * macro_r / (macro_p + macro_r) \
        if macro_p + macro_r > 0 else 0.0
    result["uf1_megc2019"] = float(np.mean(f1))
    result["macro_precision"] = macro_p
    result["classes_in_truth"] = [class_names[c] for c in present]
    result["recall"] = OrderedDict((class_names[c], float(r)) for c, r in zip(present, recall))
    result["precision"] = OrderedDict((class_names[c], float(p))
                                      for c, p in zip(present, precision))
    result["confusion"] = matrix.tolist()
    result["confusion_percent"] = confusion_percent(matrix).tolist()
    return result


def evaluate(predictions, class_names=None, per_fold=False):
    """Metrics of pooled predictions, and of each fold when per_fold.

    predictions: a prediction file path, or rows (dicts with fold,
    true_label, predicted_label; a pandas DataFrame works too). class_names:
    required for rows; for a file it defaults to the header's and must agree
    with it when given. Returns an OrderedDict: classes, pooled (see
    scores()), and with per_fold also folds (a list, each with its fold id)
    and fold_mean (the mean over folds of WAR, UAR, F1, UF1)."""
    if isinstance(predictions, (str, bytes)) or hasattr(predictions, "__fspath__"):
        rows, names = read_predictions(predictions)
        if class_names is not None and list(class_names) != names:
            raise UserError("prediction file %s names the classes %s, not %s"
                            % (predictions, ", ".join(names), ", ".join(class_names)))
        class_names = names
    else:
        if hasattr(predictions, "to_dict"):
            predictions = predictions.to_dict("records")
        if class_names is None:
            raise UserError("evaluate: give the class names of in-memory predictions")
        rows = [dict(r) for r in predictions]
        for r in rows:
            r["true_label"] = _as_int(r["true_label"])
            r["predicted_label"] = _as_int(r["predicted_label"])
        if not rows:
            raise UserError("evaluate: no predictions")
        _check_rows(rows, class_names, "predictions")
    class_names = list(class_names)
    result = OrderedDict([("classes", class_names)])
    result["pooled"] = scores([r["true_label"] for r in rows],
                              [r["predicted_label"] for r in rows], class_names)
    if per_fold:
        order = []
        by_fold = {}
        for r in rows:
            fold = r.get("fold", "")
            if fold not in by_fold:
                order.append(fold)
                by_fold[fold] = []
            by_fold[fold].append(r)
        order.sort(key=natural_key)
        result["folds"] = []
        for fold in order:
            entry = OrderedDict([("fold", fold)])
            entry.update(scores([r["true_label"] for r in by_fold[fold]],
                                [r["predicted_label"] for r in by_fold[fold]], class_names))
            result["folds"].append(entry)
        result["fold_mean"] = OrderedDict(
            (m, float(np.mean([f[m] for f in result["folds"]]))) for m in METRICS)
    return result


def _as_int(value):
    try:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise UserError("class index %r is not an integer" % (value,))


# ---------------------------------------------------------------- output

def _cell(value):
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else "%.2f" % value


def confusion_markdown(percent, class_names, counts=None):
    """Table 5's form: rows true class, columns predicted, percent per row
    (two decimals, '–' for a class without true samples), and the number
    of true samples when counts are given."""
    header = "| true \\ predicted | " + " | ".join(class_names) + " |"
    rule = "|---|" + "---:|" * len(class_names)
    if counts is not None:
        header += " samples |"
        rule += "---:|"
    lines = [header, rule]
    for i, name in enumerate(class_names):
        line = "| %s | %s |" % (name, " | ".join(_cell(v) for v in percent[i]))
        if counts is not None:
            line += " %d |" % sum(counts[i])
        lines.append(line)
    return "\n".join(lines) + "\n"


def metrics_markdown(result):
    """WAR, UAR, F1 (MEGC 2018) and UF1 (MEGC 2019): pooled, then per fold
    and their mean when present."""
    keys = list(METRICS)
    lines = ["| predictions | samples | " + " | ".join(METRICS[m].split(" (")[0] for m in keys)
             + " |", "|---|---:|" + "---:|" * len(keys)]

    def row(name, m, samples):
        return "| %s | %s | %s |" % (name, samples, " | ".join("%.3f" % m[k] for k in keys))

    lines.append(row("pooled", result["pooled"], result["pooled"]["samples"]))
    if "folds" in result:
        lines.append(row("mean over %d folds" % len(result["folds"]), result["fold_mean"], ""))
        for f in result["folds"]:
            lines.append(row(f["fold"], f, f["samples"]))
    lines.append("")
    lines.extend("%s: %s" % (METRICS[k].split(" (")[0], METRICS[k]) for k in keys)
    lines.append("Class means over the classes present in the true labels of each row.")
    return "\n".join(lines) + "\n"


def confusion_png(percent, class_names, path, title=None):
    """The percent confusion matrix as an annotated PNG (rows true)."""
    import matplotlib  # lazy: matplotlib loads slowly, only pictures need it
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # lazy: matplotlib loads slowly, only pictures need it
    percent = np.asarray(percent, dtype=np.float64)
    k = len(class_names)
    size = 1.2 + 0.9 * k
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    shown = np.ma.masked_invalid(percent)
    cmap = copy.copy(matplotlib.cm.get_cmap("Blues"))  # not the shared registered one
    cmap.set_bad("0.85")
    image = ax.imshow(shown, cmap=cmap, vmin=0.0, vmax=100.0)
    for i in range(k):
        for j in range(k):
            value = percent[i, j]
            ax.text(j, i, _cell(float(value)), ha="center", va="center", fontsize=9,
                    color="white" if not math.isnan(value) and value > 55 else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(class_names, rotation=30, ha="right")
    ax.set_yticklabels(class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="% of the true class")
    fig.tight_layout()
    buffer = io.BytesIO()
    # no Software tag: the bytes do not change with the version string alone
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return files.atomic_write(path, buffer.getvalue())
