"""metrics: WAR, UAR, F1 (MEGC 2018), UF1 (MEGC 2019) and the Table 5
confusion matrix against values worked out by hand.

The worked case: classes a, b, c; 10 test samples in two folds.
  fold f1  true a a a b b   predicted a a b b a   (c absent from the truth)
  fold f2  true a b c c c   predicted a b a b b   (c never predicted anywhere)
Pooled confusion (rows true a, b, c; columns predicted a, b, c):
  a: 3 1 0    b: 1 2 0    c: 1 2 0
  WAR = 5/10. Recall a 3/4, b 2/3, c 0 -> UAR = 17/36.
  Precision a 3/5, b 2/5, c 0/0 := 0 -> macro P = 1/3.
  F1 2018 = 2 (1/3)(17/36) / (1/3 + 17/36) = 34/87 = 0.3908...
  UF1 2019: a 6/(6+2+1) = 2/3, b 4/(4+3+1) = 1/2, c 0/(0+0+3) = 0 -> 7/18 = 0.3888...
f1 (classes in truth: a, b): a: 2 1, b: 1 1 -> WAR 3/5; recall 2/3, 1/2 -> UAR 7/12;
  precision 2/3, 1/2 -> P 7/12; F1 2018 = 7/12; UF1 = (4/6 + 2/4)/2 = 7/12.
f2: a: 1 0 0, b: 0 1 0, c: 1 2 0 -> WAR 2/5; recall 1, 1, 0 -> UAR 2/3;
  precision 1/2, 1/3, 0 -> P 5/18; F1 2018 = 2(5/18)(2/3)/(5/18 + 2/3) = 20/51;
  UF1 = (2/3 + 2/4 + 0)/3 = 7/18.
Mean over folds: WAR 1/2, UAR 5/8, F1 2018 (7/12 + 20/51)/2 = 199/408, UF1 35/72.
"""
import math

import numpy as np
import pytest

from microattention import metrics, paper
from microattention.errors import UserError

pytest.importorskip("sklearn")

CLASSES = ["a", "b", "c"]
CASE = [  # fold, true, predicted
    ("f1", 0, 0), ("f1", 0, 0), ("f1", 0, 1), ("f1", 1, 1), ("f1", 1, 0),
    ("f2", 0, 0), ("f2", 1, 1), ("f2", 2, 0), ("f2", 2, 1), ("f2", 2, 1),
]


def case_rows():
    rows = []
    for i, (fold, true, predicted) in enumerate(CASE):
        scores = [0.1, 0.1, 0.1]
        scores[predicted] = 0.8
        rows.append({"fold": fold, "sample_id": "d/s%d/c%d/1" % (i // 3, i),
                     "true_label": true, "predicted_label": predicted, "scores": scores})
    return rows


@pytest.fixture
def case_file(tmp_path):
    path = tmp_path / "predictions.csv"
    metrics.write_predictions(str(path), case_rows(), CLASSES)
    return path


def close(a, b):
    return math.isclose(a, b, rel_tol=0, abs_tol=1e-12)


def test_file_format(case_file):
    lines = case_file.read_text().splitlines()
    assert lines[0] == "fold,sample_id,true_label,predicted_label,score_a,score_b,score_c"
    assert lines[3] == "f1,d/s0/c2/1,0,1,0.1,0.8,0.1"
    rows, names = metrics.read_predictions(str(case_file))
    assert names == CLASSES
    assert [(r["fold"], r["true_label"], r["predicted_label"]) for r in rows] == CASE
    assert rows[2]["scores"] == [0.1, 0.8, 0.1]


def test_pooled_metrics_by_hand(case_file):
    result = metrics.evaluate(str(case_file))
    p = result["pooled"]
    assert result["classes"] == CLASSES
    assert p["samples"] == 10
    assert close(p["war"], 0.5)
    assert close(p["uar"], 17 / 36)
    assert close(p["macro_precision"], 1 / 3)
    assert close(p["f1_megc2018"], 34 / 87)
    assert close(p["uf1_megc2019"], 7 / 18)
    assert abs(p["f1_megc2018"] - p["uf1_megc2019"]) > 1e-3  # the two F1s differ here
    assert p["confusion"] == [[3, 1, 0], [1, 2, 0], [1, 2, 0]]
    assert p["classes_in_truth"] == CLASSES
    assert p["recall"] == {"a": 0.75, "b": pytest.approx(2 / 3), "c": 0.0}
    assert p["precision"] == {"a": 0.6, "b": 0.4, "c": 0.0}
    assert "folds" not in result


def test_per_fold_metrics_by_hand(case_file):
    result = metrics.evaluate(str(case_file), CLASSES, per_fold=True)
    f1, f2 = result["folds"]
    assert (f1["fold"], f2["fold"]) == ("f1", "f2")
    assert f1["classes_in_truth"] == ["a", "b"]   # c absent from f1's truth: left out
    assert (f1["samples"], f2["samples"]) == (5, 5)
    for key, value in [("war", 3 / 5), ("uar", 7 / 12), ("f1_megc2018", 7 / 12),
                       ("uf1_megc2019", 7 / 12)]:
        assert close(f1[key], value), key
    for key, value in [("war", 2 / 5), ("uar", 2 / 3), ("f1_megc2018", 20 / 51),
                       ("uf1_megc2019", 7 / 18), ("macro_precision", 5 / 18)]:
        assert close(f2[key], value), key
    mean = result["fold_mean"]
    assert close(mean["war"], 1 / 2) and close(mean["uar"], 5 / 8)
    assert close(mean["f1_megc2018"], 199 / 408) and close(mean["uf1_megc2019"], 35 / 72)
    # pooled stays the pooled value
    assert close(result["pooled"]["uar"], 17 / 36)
    assert f1["confusion"] == [[2, 1, 0], [1, 1, 0], [0, 0, 0]]
    assert all(math.isnan(v) for v in f1["confusion_percent"][2])


def test_confusion_percent_rows_sum_to_100(case_file):
    p = metrics.evaluate(str(case_file))["pooled"]
    percent = np.array(p["confusion_percent"])
    assert np.allclose(percent.sum(axis=1), 100.0, rtol=0, atol=1e-9)
    assert np.allclose(percent, [[75, 25, 0], [100 / 3, 200 / 3, 0], [100 / 3, 200 / 3, 0]])
    md = metrics.confusion_markdown(p["confusion_percent"], CLASSES, p["confusion"])
    assert md.splitlines() == [
        "| true \\ predicted | a | b | c | samples |",
        "|---|---:|---:|---:|---:|",
        "| a | 75.00 | 25.00 | 0.00 | 4 |",
        "| b | 33.33 | 66.67 | 0.00 | 3 |",
        "| c | 33.33 | 66.67 | 0.00 | 3 |"]
    # a larger random matrix: every row with true samples sums to 100
    rng = np.random.RandomState(0)
    counts = rng.randint(0, 40, (5, 5))
    counts[3] = 0
    rows = metrics.confusion_percent(counts)
    assert np.allclose(np.delete(rows, 3, axis=0).sum(axis=1), 100.0, rtol=0, atol=1e-9)
    assert np.isnan(rows[3]).all()


def test_table5_of_the_paper_round_trips():
    """Table 5 is the CDE confusion matrix in percent of each true class;
    with Table 1's counts of classes I-V in CASME II + SAMM as row totals,
    whole numbers of samples reproduce every printed percentage."""
    totals = [paper.TABLE1["casme2"][c] + paper.TABLE1["samm"][c] for c in paper.CLASSES]
    assert totals == [25 + 24, 15 + 13, 99 + 20, 26 + 8, 20 + 3]   # Table 1, by hand
    counts = [[int(round(p * n / 100.0)) for p in row] for row, n in zip(paper.TABLE5, totals)]
    # the counts add up to each class's samples: no sample lost or made up by rounding
    assert [sum(row) for row in counts] == totals
    assert counts[3] == [6, 0, 12, 16, 0]        # disgust: 34 samples, 16 right
    assert counts[4] == [1, 2, 10, 0, 10]        # sadness: 23 samples, 10 right
    md = metrics.confusion_markdown(metrics.confusion_percent(counts), list(paper.CLASSES))
    lines = {line.split("|")[1].strip(): line for line in md.splitlines() if line.count("|") > 5}
    for name, printed in zip(paper.CLASSES, paper.TABLE5):
        got = [float(cell) for cell in lines[name].split("|")[2:-1]]
        # the paper rounds 10/23 once down (43.47) so that its row sums to 100
        assert np.allclose(got, printed, rtol=0, atol=0.0101), (name, got, printed)
    assert "| disgust | 17.65 | 0.00 | 35.29 | 47.06 | 0.00 |" in md
    assert "| sadness | 4.35 | 8.70 | 43.48 | 0.00 | 43.48 |" in md


def test_png_and_markdown_summary(case_file, tmp_path):
    result = metrics.evaluate(str(case_file), per_fold=True)
    png = tmp_path / "confusion.png"
    metrics.confusion_png(result["pooled"]["confusion_percent"], CLASSES, str(png),
                          title="pooled")
    from matplotlib import image
    pixels = image.imread(str(png))
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 200
    first = png.read_bytes()
    metrics.confusion_png(result["pooled"]["confusion_percent"], CLASSES, str(png),
                          title="pooled")
    assert png.read_bytes() == first
    # a fold with an empty row draws too (grey, '–')
    metrics.confusion_png(result["folds"][0]["confusion_percent"], CLASSES,
                          str(tmp_path / "f1.png"))
    md = metrics.metrics_markdown(result).splitlines()
    assert md[0] == "| predictions | samples | WAR | UAR | F1 | UF1 |"
    assert md[2] == "| pooled | 10 | 0.500 | 0.472 | 0.391 | 0.389 |"
    assert md[3] == "| mean over 2 folds |  | 0.500 | 0.625 | 0.488 | 0.486 |"
    assert md[4] == "| f1 | 5 | 0.600 | 0.583 | 0.583 | 0.583 |"


def test_in_memory_rows_and_dataframe():
    import pandas as pd
    rows = [{"fold": f, "true_label": t, "predicted_label": p} for f, t, p in CASE]
    a = metrics.evaluate(rows, CLASSES)
    b = metrics.evaluate(pd.DataFrame(rows), CLASSES)
    assert a == b
    assert close(a["pooled"]["f1_megc2018"], 34 / 87)
    with pytest.raises(UserError, match="give the class names"):
        metrics.evaluate(rows)


@pytest.mark.parametrize("text,message", [
    ("", "is empty"),
    ("fold,sample_id,true_label,score_a,score_b\n", "lacks the column\\(s\\) predicted_label"),
    ("fold,sample_id,true_label,predicted_label,score_a\n", "each class once"),
    ("fold,sample_id,true_label,predicted_label,score_a,score_b\n",
     "holds no predictions"),
    ("fold,sample_id,true_label,predicted_label,score_a,score_b\nf,x,0,2,0.5,0.5\n",
     "row 2: predicted_label 2 is not a class index 0..1 \\(a, b\\)"),
    ("fold,sample_id,true_label,predicted_label,score_a,score_b\nf,x,a,0,0.5,0.5\n",
     "row 2: true_label 'a' is not a class index"),
    ("fold,sample_id,true_label,predicted_label,score_a,score_b\nf,x,0,0,0.5,0.5\n"
     "g,x,1,0,0.5,0.5\n", "row 3: sample x was already tested in fold f"),
    ("fold,sample_id,true_label,predicted_label,score_a,score_b\nf,x,0,0,0.5\n",
     "row 2: 5 cells, the header has 6"),
])
def test_bad_prediction_files(tmp_path, text, message):
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        metrics.evaluate(str(path))


def test_class_names_must_agree_with_the_file(case_file):
    with pytest.raises(UserError, match="names the classes a, b, c, not x, y, z"):
        metrics.evaluate(str(case_file), ["x", "y", "z"])
