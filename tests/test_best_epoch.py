"""The report's "best test epoch (NOT a result)" column: on run folders
built as tests/test_report.py builds them, with caffe.log files whose
per-epoch test accuracies are chosen here, the column against a value
computed here; the control: when each fold's best epoch is its last, the
column equals the final-snapshot figure."""
import collections

import pytest

from microattention import paper
from microattention.report import best_epoch

test_report = pytest.importorskip("test_report")   # its run-folder builder
make_run, write, cells, table_rows, CDE = (test_report.make_run, test_report.write,
                                           test_report.cells, test_report.table_rows,
                                           test_report.CDE)

PER_EPOCH, EPOCHS = 3, 4      # make_run's iterations per epoch; epochs given to it


def caffe_log(accuracies, extra_tests=()):
    """caffe.log of a fold in train-fold's form, one caffe process per epoch
    (a real log's lines), epoch k's test at iteration k x 3 giving
    accuracies[k-1]; extra_tests: (iteration, accuracy) logged as well."""
    lines, second = [], 0
    tests = dict(((k + 1) * PER_EPOCH, a) for k, a in enumerate(accuracies))
    tests.update(extra_tests)
    for epoch in range(1, len(accuracies) + 1):
        lines.append("# microattention train-fold 2026-12-06T06:33:27Z: epoch %d/%d, "
                     "iterations %d-%d, random_seed %d" % (epoch, len(accuracies),
                                                           (epoch - 1) * PER_EPOCH + 1,
                                                           epoch * PER_EPOCH, epoch))
        for it in range((epoch - 1) * PER_EPOCH, epoch * PER_EPOCH + 1):
            second += 1
            stamp = "I1206 06:%02d:%02d.718029    20 " % (second // 60, second % 60)
            lines.append(stamp + "solver.cpp:239] Iteration %d (0.5 iter/s, 2s/1 iters), "
                                 "loss = 1.9" % it)
            if it in tests:
                lines.append(stamp + "solver.cpp:347] Iteration %d, Testing net (#0)" % it)
                lines.append(stamp + "solver.cpp:414]     Test net output #0: accuracy = %g"
                             % tests[it])
                lines.append(stamp + "solver.cpp:414]     Test net output #1: loss = 2.42767 "
                                     "(* 1 = 2.42767 loss)")
    return "\n".join(lines) + "\n"


def cde_run(tmp_path, logs):
    run = make_run(tmp_path / "runs", "cde", "micro_attention", CDE, epochs=EPOCHS)
    for fold, text in logs.items():
        if text is None:
            (run / fold / "caffe.log").unlink()
        else:
            (run / fold / "caffe.log").write_text(text)
    return run


def side_row(md):
    return [l for l in table_rows(md, paper.METHODS["micro_attention"] + ", this run")
            if "`micro_attention`" in l][0]


def test_the_column_picks_each_folds_best_logged_epoch(tmp_path):
    sub01 = [0.4, 1.0, 0.6, 0.8]
    samm = [0.6, 0.8, 0.8, 0.6]
    # samm_006 also logs a test of its initial weights (iteration 0) and one
    # mid-epoch: neither is an epoch's
    run = cde_run(tmp_path, {"casme2_sub01": caffe_log(sub01),
                             "samm_006": caffe_log(samm, [(0, 1.0), (4, 1.0)])})
    md, html = write([run], tmp_path / "out")
    # computed here: per fold the highest epoch-end accuracy (epoch 2 for both;
    # samm_006's 0.8 first at epoch 2), weighted by the 5 + 5 test samples
    expected = (max(sub01) * 5 + max(samm) * 5) / 10.0
    assert expected == pytest.approx(0.9)
    assert cells(table_rows(md, "casme2_sub01 |")[0])[-1] == "1.000 (epoch 2 of 4)"
    assert cells(table_rows(md, "samm_006 |")[0])[-1] == "0.800 (epoch 2 of 4)"
    pooled = cells(table_rows(md, "pooled |")[0])
    assert pooled[3] == "0.700" and pooled[-1] == "%.3f" % expected   # final WAR beside it
    side = cells(side_row(md))
    assert side[5] == "0.700" and side[9] == "%.3f" % expected
    header = [l for l in md.splitlines() if l.startswith("| run | net |")][0]
    assert cells(header)[9] == "WAR at the best test epoch (NOT a result)"
    assert best_epoch.NOTE in md and "is NOT a result" in md
    assert "there is no UAR or F1 of it" in md


def test_control_when_the_best_epoch_is_the_last_the_column_is_the_final_figure(tmp_path):
    # each fold's last epoch is its best, and logs the fold's final WAR
    # (casme2_sub01 4 of 5 right, samm_006 3 of 5)
    run = cde_run(tmp_path, {"casme2_sub01": caffe_log([0.2, 0.4, 0.6, 0.8]),
                             "samm_006": caffe_log([0.2, 0.4, 0.4, 0.6])})
    md, _ = write([run], tmp_path / "out")
    for fold, war in (("casme2_sub01", "0.800"), ("samm_006", "0.600")):
        row = cells(table_rows(md, fold + " |")[0])
        assert row[3] == war and row[-1] == "%s (epoch 4 of 4)" % war
    side = cells(side_row(md))
    assert side[9] == side[5] == "0.700"


def test_a_fold_without_its_log_leaves_the_pooled_value_out(tmp_path):
    run = cde_run(tmp_path, collections.OrderedDict([
        ("casme2_sub01", caffe_log([0.2, 0.4, 0.6, 0.8])), ("samm_006", None)]))
    md, _ = write([run], tmp_path / "out")
    assert cells(table_rows(md, "samm_006 |")[0])[-1] == "– (no caffe.log)"
    assert cells(table_rows(md, "casme2_sub01 |")[0])[-1] == "0.800 (epoch 4 of 4)"
    assert cells(side_row(md))[9] == "– (a fold's log lacks it)"


def test_epoch_accuracies_and_the_earliest_of_equal_best():
    rows = [{"iteration": 0, "test_accuracy": 0.9}, {"iteration": 3, "test_accuracy": 0.5},
            {"iteration": 4, "test_accuracy": 0.95}, {"iteration": 6, "loss": 1.0},
            {"iteration": 9, "test_accuracy": 0.7}, {"iteration": 12, "test_accuracy": 0.7},
            {"iteration": 15, "test_accuracy": 0.99}]
    accuracies = best_epoch.epoch_accuracies(rows, 3, 4)
    assert accuracies == {1: 0.5, 3: 0.7, 4: 0.7}
    assert best_epoch.best(accuracies) == (3, 0.7)
    assert best_epoch.best({}) is None
