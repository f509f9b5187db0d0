"""The report command on run folders built here from fixed predictions and a
small synthetic caffe log, in the layout microattention.train.fold writes
(RUN/<protocol>/<net>/<fold>/ with settings.json, predictions.csv,
provenance.json, solver.prototxt, caffe.log, done.json; RUN/<protocol>/<net>/
metrics.json with folds_pooled once pooled). No training needed."""
import base64
import collections
import hashlib
import json
import os
import re
import subprocess
import sys
from fractions import Fraction

import pytest

from microattention import files, metrics, paper, protocols
from microattention.report.document import write_report
from microattention.report.setup import origin_label
from microattention.train import layout
from microattention.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = list(paper.CLASSES)

# Fixed CDE predictions: fold -> [(sample_id, true, predicted)]
CDE = collections.OrderedDict([
    ("casme2_sub01", [("casme2/sub01/EP01/100", 0, 0), ("casme2/sub01/EP02/90", 0, 0),
                      ("casme2/sub01/EP03/80", 1, 1), ("casme2/sub01/EP04/70", 2, 2),
                      ("casme2/sub01/EP05/60", 2, 0)]),
    ("samm_006", [("samm/006/006_1/5", 2, 2), ("samm/006/006_2/5", 3, 3),
                  ("samm/006/006_3/5", 3, 2), ("samm/006/006_4/5", 4, 4),
                  ("samm/006/006_5/5", 4, 2)]),
])


def by_hand():
    """The metrics of CDE pooled, from the counts written out by hand.
    Rows true: happiness 2 (both right), surprise 1 (right), anger 3 (2 right, 1
    as happiness), disgust 2 (1 right, 1 as anger), sadness 2 (1 right, 1 as
    anger). Predicted: happiness 3, surprise 1, anger 4, disgust 1, sadness 1."""
    tp = [2, 1, 2, 1, 1]
    n_true = [2, 1, 3, 2, 2]
    n_pred = [3, 1, 4, 1, 1]
    war = Fraction(sum(tp), sum(n_true))
    recall = [Fraction(t, n) for t, n in zip(tp, n_true)]
    precision = [Fraction(t, n) for t, n in zip(tp, n_pred)]
    uar = sum(recall) / 5
    p = sum(precision) / 5
    f1_2018 = 2 * p * uar / (p + uar)
    # per class 2TP/(2TP+FP+FN) = 2TP/(n_true + n_pred)
    uf1 = sum(Fraction(2 * t, n + m) for t, n, m in zip(tp, n_true, n_pred)) / 5
    return {"war": war, "uar": uar, "f1_megc2018": f1_2018, "uf1_megc2019": uf1}


def caffe_log(iterations_per_epoch, epochs, base_lr=1e-3, step=10):
    """A caffe train log in glog form: train loss every iteration's display,
    lr, a test at every epoch end."""
    lines = []
    second = 0
    for it in range(0, iterations_per_epoch * epochs + 1, max(1, iterations_per_epoch // 2)):
        second += 1
        stamp = "I1128 08:%02d:%02d.000000 16 " % (second // 60, second % 60)
        loss = 1.6 / (1 + it / 10.0)
        lines.append(stamp + "solver.cpp:239] Iteration %d (2 iter/s, 1s/5 iters), loss = %.4f"
                     % (it, loss))
        lines.append(stamp + "solver.cpp:258]     Train net output #0: loss = %.4f "
                             "(* 1 = %.4f loss)" % (loss, loss))
        if it < iterations_per_epoch * epochs:   # caffe logs no update at max_iter
            lr = base_lr * 0.1 ** (it // (step * iterations_per_epoch))
            lines.append(stamp + "sgd_solver.cpp:112] Iteration %d, lr = %g" % (it, lr))
        if it and it % iterations_per_epoch == 0:
            lines.append(stamp + "solver.cpp:347] Iteration %d, Testing net (#0)" % it)
            lines.append(stamp + "solver.cpp:414]     Test net output #0: accuracy = %.4f"
                         % min(1.0, 0.2 + it / 100.0))
    return "\n".join(lines) + "\n"


def table_of(protocol):
    p = protocols.get(protocol)
    out = collections.OrderedDict((k, v._asdict() if hasattr(v, "_asdict") else v)
                                  for k, v in p._asdict().items())
    return out


IMAGENET_CHAIN = ["resnet10_imagenet_gray.caffemodel: weights imagenet-to-gray",
                  "the cvjena ImageNet ResNet-10 (resnet10_cvgj_iter_320000.caffemodel, "
                  "sha256 7291cda37d48...)"]
MACRO_CHAIN = ["micro_attention_macro.caffemodel: weights transfer",
               "final.caffemodel: train-fold pretrain/pretrain (/runs/pretrain/resnet10/pretrain)"
               ] + IMAGENET_CHAIN


def traced(protocol):
    """provenance.json's initial_weights of a run started as the paper does."""
    return collections.OrderedDict([("imagenet", True), ("pretrained", protocol != "pretrain"),
                                    ("chain", IMAGENET_CHAIN if protocol == "pretrain"
                                     else MACRO_CHAIN)])


def make_run(root, protocol, net, folds, classes=CLASSES, epochs=None, seed=0, done=None,
             pooled=True, index=None, started=(), changes=None, bn_recalibration=False,
             initial_weights=None, protocol_folds=True, environment=None):
    """Fold folders of a run as train.fold.train_fold leaves them; `done`: the
    fold ids finished (default all); `started`: extra fold ids with only
    settings.json and a caffe.log (training under way). `changes`: a
    protocols.variant's changes; `initial_weights`: provenance's record
    (default: traced to ImageNet); `protocol_folds`: True records the folds
    and started ones as the protocol's folds, a list records that list,
    False nothing (a run from before the record)."""
    p = protocols.variant(protocol, **(changes or {}))
    epochs = epochs or p.total_epochs
    run_dir = root / protocol / net
    done = list(folds) if done is None else done
    per_epoch = 3
    if protocol_folds is True:
        protocol_folds = list(folds) + list(started)
    for fold_id in list(folds) + list(started):
        fold_dir = run_dir / fold_id
        fold_dir.mkdir(parents=True)
        settings = collections.OrderedDict([
            ("format", layout.FORMAT), ("protocol", protocol), ("net", net),
            ("fold", fold_id), ("seed", seed), ("epochs", epochs),
            ("index_sha256", files.sha256(index) if index else "a" * 64),
            ("faces_csv_sha256", "b" * 64), ("weights_sha256", "c" * 64)])
        if protocols.changes(p):
            settings["protocol_changes"] = protocols.changes(p)
        if bn_recalibration:
            settings["bn_recalibration"] = "one epoch of training batches"
        (fold_dir / "settings.json").write_text(files.to_json(settings))
        (fold_dir / "caffe.log").write_text(caffe_log(per_epoch, epochs, p.base_lr,
                                                      p.step_epochs))
        if fold_id not in done:
            continue
        rows = [collections.OrderedDict([
            ("fold", fold_id), ("sample_id", sid), ("true_label", t), ("predicted_label", pr),
            ("scores", [0.9 if c == pr else 0.1 / (len(classes) - 1)
                        for c in range(len(classes))])]) for sid, t, pr in folds[fold_id]]
        (fold_dir / "predictions.csv").write_text(metrics.predictions_csv(rows, classes))
        (fold_dir / "solver.prototxt").write_text(
            'net: "train_val.prototxt"\ntype: "%s"\nbase_lr: %s\nmomentum: %s\n'
            'weight_decay: %s\nlr_policy: "step"\ngamma: %s\nstepsize: %d\nmax_iter: %d\n'
            'random_seed: %d\n'
            % (p.solver, repr(p.base_lr), repr(p.momentum), repr(p.weight_decay), repr(p.gamma),
               p.step_epochs * per_epoch, epochs * per_epoch, seed))
        provenance = collections.OrderedDict([
            ("format", layout.FORMAT), ("settings", settings),
            ("inputs", {"index": str(index) if index else "/nonexistent/index.csv",
                        "faces": "/data/faces", "weights": "/data/init.caffemodel"}),
            ("protocol_table", table_of(p)),
            ("schedule", collections.OrderedDict([
                ("training_records", 3 * p.batch), ("test_records", len(folds[fold_id])),
                ("batch", p.batch), ("test_batch", p.test_batch),
                ("iterations_per_epoch", per_epoch), ("epochs", epochs),
                ("max_iter", epochs * per_epoch), ("stepsize", p.step_epochs * per_epoch),
                ("caffe_random_seed", "seed * 1000 + epoch")])),
            ("caffe_version", "caffe version 1.0.0"),
            ("initial_weights", initial_weights or traced(protocol)),
            ("environment", {"OPENBLAS_NUM_THREADS": "2"}),
            ("microattention_version", "0.1.0")])
        if protocol_folds:
            provenance["protocol_folds"] = list(protocol_folds)
        provenance.update(environment or {})     # git commit, BLAS, image, host, device
        (fold_dir / "provenance.json").write_text(files.to_json(provenance))
        (fold_dir / "done.json").write_text(files.to_json(collections.OrderedDict([
            ("format", layout.FORMAT), ("fold", fold_id), ("settings", settings),
            ("final_snapshot", "%s_iter_%d.caffemodel" % (net, epochs * per_epoch)),
            ("final_snapshot_sha256", hashlib.sha256(fold_id.encode()).hexdigest()),
            ("finished", "2026-11-28T08:00:00Z")])))
    if pooled:
        (run_dir / "metrics.json").write_text(json.dumps({"folds_pooled": list(folds)}))
    return run_dir


def write(runs, out, **kw):
    write_report([str(r) for r in runs], str(out), stamp="2026-11-28T09:00:00Z", **kw)
    return (out / "report.md").read_text(), (out / "report.html").read_text()


def table_rows(md, first_cell_start):
    return [line for line in md.splitlines()
            if line.startswith("| " + first_cell_start)]


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


# ------------------------------------------------------------------ CDE


def test_cde_report_holds_tables_4_and_5_and_our_numbers_by_hand(tmp_path):
    run = make_run(tmp_path / "runs", "cde", "micro_attention", CDE)
    md, html = write([run], tmp_path / "out")
    for key, values in paper.TABLE4.items():
        row = table_rows(md, paper.METHODS[key] + " |")
        assert len(row) == 1, key
        assert cells(row[0])[1:3] == ["%.3f" % values["accuracy"], "%.3f" % values["f1"]]
    for i, name in enumerate(paper.CLASSES):
        row = table_rows(md, name + " |")[0]     # the paper's Table 5 comes first
        assert cells(row)[1:] == ["%.2f" % v for v in paper.TABLE5[i]]
    hand = by_hand()
    ours = table_rows(md, paper.METHODS["micro_attention"] + ", this run")
    # Table 4 with ours: accuracy, F1 (paper) / UF1 (ours), F1 MEGC 2018, UAR
    assert cells(ours[0])[1:] == ["%.3f" % float(hand[k]) for k in
                                  ("war", "uf1_megc2019", "f1_megc2018", "uar")]
    assert cells(ours[0])[1:] == ["0.700", "0.741", "0.780", "0.733"]
    assert "2 of 2 folds done" in md and "PARTIAL" not in md
    # side by side: WAR, UAR, F1 2018, UF1 2019 named
    side = [l for l in ours if "`micro_attention`" in l][0]
    assert cells(side)[5:9] == ["0.700", "0.733", "0.780", "0.741"]
    # Table 5 side by side: anger row ours (paper's), happiness 1 of 3 anger samples
    anger = [l for l in table_rows(md, "anger |") if "(" in l][0]
    assert cells(anger)[1:] == ["33.33 (2.52)", "0.00 (0.00)", "66.67 (94.12)",
                                "0.00 (1.68)", "0.00 (1.68)", "3"]
    # per fold
    assert cells(table_rows(md, "casme2_sub01 |")[0])[1:4] == ["done", "5", "0.800"]
    assert cells(table_rows(md, "samm_006 |")[0])[1:4] == ["done", "5", "0.600"]


def test_html_embeds_every_png_and_loads_nothing_else(tmp_path):
    run = make_run(tmp_path / "runs", "cde", "micro_attention", CDE)
    out = tmp_path / "out"
    md, html = write([run], out)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["confusion-micro_attention-runs-cde-micro_attention.png",
                    "confusion-paper-table5.png",
                    "curves-micro_attention-runs-cde-micro_attention-casme2_sub01.png",
                    "curves-micro_attention-runs-cde-micro_attention-samm_006.png"]
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert sorted(base64.b64decode(e) for e in embedded) == sorted(
        (out / name).read_bytes() for name in pngs)
    assert all((out / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for name in pngs)
    assert re.findall(r'(?:src|href)="(?!data:)', html) == []
    for name in pngs:
        assert "](%s)" % name in md


def test_same_runs_give_the_same_bytes_apart_from_the_stamp(tmp_path):
    run = make_run(tmp_path / "runs", "cde", "micro_attention", CDE)
    write_report([str(run)], str(tmp_path / "a"), stamp="2026-11-28T09:00:00Z")
    write_report([str(run)], str(tmp_path / "b"), stamp="2026-12-01T10:11:12Z")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        a, b = (tmp_path / "a" / name).read_bytes(), (tmp_path / "b" / name).read_bytes()
        if name.startswith("report."):
            a = a.replace(b"2026-11-28T09:00:00Z", b"STAMP")
            b = b.replace(b"2026-12-01T10:11:12Z", b"STAMP")
        assert a == b, name


# ------------------------------------------------------------------ other protocols


def test_loso_report_holds_every_table6_value_and_one_row_per_net(tmp_path):
    casme = make_run(tmp_path / "a", "loso", "micro_attention", collections.OrderedDict([
        ("casme2_sub01", CDE["casme2_sub01"]),
        ("casme2_sub02", [("casme2/sub02/EP01/5", 2, 2), ("casme2/sub02/EP02/5", 3, 2)])]))
    smic = make_run(tmp_path / "b", "loso", "micro_attention", collections.OrderedDict([
        ("smic_s1", [("smic/s1/c1/5", 0, 0), ("smic/s1/c2/5", 1, 2)]),
        ("smic_s2", [("smic/s2/c1/5", 2, 2), ("smic/s2/c2/5", 1, 1)])]),
        classes=list(paper.SMIC_CLASSES))
    md, _ = write([casme, smic], tmp_path / "out")
    for key, values in paper.TABLE6.items():
        row = table_rows(md, paper.METHODS[key] + " |")
        assert len(row) == 1
        assert cells(row[0])[1:] == ["%.3f" % values[d][m] for d in ("samm", "casme2", "smic")
                                     for m in ("accuracy", "f1")]
    ours = [l for l in table_rows(md, paper.METHODS["micro_attention"] + ", this run")
            if "not run" in l]
    assert len(ours) == 1
    # CASME II: 7 samples, 5 right -> 0.714; SMIC: 4 samples, 3 right -> 0.750
    c = cells(ours[0])
    assert c[1:3] == ["not run", "not run"]
    assert c[3] == "0.714" and c[5] == "0.750"
    smic_uf1 = (Fraction(2, 2) + Fraction(2, 3) + Fraction(2, 3)) / 3  # 2TP/(2TP+FP+FN)
    assert c[6] == "%.3f" % float(smic_uf1)


def test_hde_report_holds_table2_and_our_values_per_test_database(tmp_path):
    run = make_run(tmp_path / "runs", "hde", "micro_attention", collections.OrderedDict([
        ("casme2-to-samm", CDE["samm_006"]), ("samm-to-casme2", CDE["casme2_sub01"])]))
    md, _ = write([run], tmp_path / "out")
    for key, values in paper.TABLE2.items():
        row = table_rows(md, paper.METHODS[key] + " |")
        assert cells(row[0])[1:] == ["%.3f" % values[t][m] for m in ("war", "uar")
                                     for t in ("samm", "casme2")]
    ours = table_rows(md, paper.METHODS["micro_attention"] + ", this run")[0]
    # test SAMM = fold casme2-to-samm: 3 of 5 right; UAR (1 + 1/2 + 1/2)/3
    # test CASME II: 4 of 5; UAR (1 + 1 + 1/2)/3
    assert cells(ours)[1:] == ["0.600", "0.800", "0.667", "0.833"]


def test_pretrain_report_beside_the_papers_validation_accuracy(tmp_path):
    run = make_run(tmp_path / "runs", "pretrain", "resnet10", collections.OrderedDict([
        ("pretrain", [("ckplus/S005/001/10", 0, 0), ("ckplus/S005/001/11", 0, 0),
                      ("mug/001/a/5", 1, 1), ("mug/001/b/5", 2, 3)])]), pooled=False)
    md, _ = write([run], tmp_path / "out")
    assert "| paper (section 4.2) | 99.33 % |" in md
    row = table_rows(md, paper.METHODS["resnet10"] + ", this run")[0]
    assert cells(row)[1:] == ["75.00 %", "4"]
    assert "1 of 1 folds done" in md


# ------------------------------------------------------------------ partial, several runs


def index_csv(path):
    """A CDE index of three subjects: folds casme2_sub01, casme2_sub02, samm_006."""
    lines = ["dataset,subject,clip,frame,label"]
    for sid, t, _ in CDE["casme2_sub01"] + CDE["samm_006"] + [
            ("casme2/sub02/EP01/5", 2, 2), ("casme2/sub02/EP02/5", 3, 2)]:
        dataset, subject, clip, frame = sid.split("/")
        lines.append("%s,%s,%s,%s,%s" % (dataset, subject, clip, frame, CLASSES[t]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_partial_run_is_flagged_with_k_of_n_from_the_recorded_index(tmp_path):
    index = index_csv(tmp_path / "index.csv")
    run = make_run(tmp_path / "runs", "cde", "micro_attention", CDE, pooled=False, index=index,
                   started=["casme2_sub02"], protocol_folds=False)
    md, html = write([run], tmp_path / "out")
    assert "2 of 3 folds done - PARTIAL" in md
    assert "the index recorded in provenance.json (%s) split into cde folds" % index in md
    assert "> **WARNING:** %s: 2 of 3 folds done." % paper.METHODS["micro_attention"] in md
    ours = table_rows(md, paper.METHODS["micro_attention"] + ", this run (PARTIAL: 2 of 3 folds")
    assert len(ours) == 2  # Table 4 and the side-by-side table
    assert cells(table_rows(md, "casme2_sub02 |")[0])[1] == "not done (started)"
    assert "| pooled (PARTIAL) |" in md
    assert 'class="warn"' in html


def test_partial_run_without_a_known_fold_count_is_never_complete(tmp_path):
    run = make_run(tmp_path / "runs", "cde", "micro_attention", CDE, pooled=False,
                   protocol_folds=False)
    md, _ = write([run], tmp_path / "out")
    assert "2 of ? folds done (total unknown) - PARTIAL" in md
    assert "give --index" in md
    index = index_csv(tmp_path / "index.csv")
    with pytest.raises(UserError, match="is not the index of any of the runs"):
        write([run], tmp_path / "out2", index=str(index))


def test_run_without_a_finished_fold_is_reported_as_not_done(tmp_path):
    index = index_csv(tmp_path / "index.csv")
    run = make_run(tmp_path / "runs", "hde", "resnet10", collections.OrderedDict(), pooled=False,
                   started=["casme2-to-samm"], index=index)
    md, _ = write([run], tmp_path / "out")
    assert "0 of ? folds done (total unknown) - PARTIAL" in md
    md, _ = write([run], tmp_path / "out", index=str(index))
    assert "0 of 2 folds done - PARTIAL" in md     # HDE: the index gives 2 folds
    ours = table_rows(md, paper.METHODS["resnet10"] + ", this run (PARTIAL: 0 of 2 folds")[0]
    assert cells(ours)[1:] == ["not done"] * 4
    assert cells(table_rows(md, "samm-to-casme2 |")[0])[1] == "not started"


def index_of(path, folds, classes=CLASSES, extra=()):
    """An index CSV holding the samples of `folds` and the `extra` ones."""
    lines = ["dataset,subject,clip,frame,label"]
    for sid, t, _ in [r for rows in folds.values() for r in rows] + list(extra):
        lines.append(",".join(sid.split("/")) + "," + classes[t])
    path.write_text("\n".join(lines) + "\n")
    return path


def test_runs_on_different_indexes_each_count_their_folds_from_their_own(tmp_path):
    casme_folds = collections.OrderedDict([("casme2_sub01", CDE["casme2_sub01"])])
    smic_folds = collections.OrderedDict([("smic_s1", [("smic/s1/c1/5", 0, 0)])])
    casme_index = index_of(tmp_path / "casme2.csv", casme_folds,
                           extra=[("casme2/sub02/EP01/5", 2, 2)])
    smic_index = index_of(tmp_path / "smic.csv", smic_folds, list(paper.SMIC_CLASSES),
                          extra=[("smic/s2/c1/5", 1, 1), ("smic/s3/c1/5", 2, 2)])
    a = make_run(tmp_path / "a", "loso", "micro_attention", casme_folds, pooled=False,
                 index=casme_index, protocol_folds=False)
    b = make_run(tmp_path / "b", "loso", "micro_attention", smic_folds, pooled=False,
                 index=smic_index, classes=list(paper.SMIC_CLASSES), protocol_folds=False)
    casme_index.rename(tmp_path / "moved-casme2.csv")   # provenance's path no longer there
    md, _ = write([a, b], tmp_path / "out", index=[str(tmp_path / "moved-casme2.csv")])
    assert "`%s`, 1 of 2 folds done - PARTIAL" % a in md
    assert "`%s`, 1 of 3 folds done - PARTIAL" % b in md     # from provenance's index
    assert "--index (%s) split into loso folds" % (tmp_path / "moved-casme2.csv") in md


def test_one_run_dir_holding_loso_of_two_databases_gives_a_run_per_index(tmp_path):
    # `run --protocol loso` on CASME II and then on SMIC with the same --run-dir
    casme_folds = collections.OrderedDict([("casme2_sub01", CDE["casme2_sub01"])])
    smic_folds = collections.OrderedDict([("smic_s1", [("smic/s1/c1/5", 0, 0),
                                                        ("smic/s1/c2/5", 1, 2)])])
    casme_index = index_of(tmp_path / "casme2.csv", casme_folds,
                           extra=[("casme2/sub02/EP01/5", 2, 2)])
    smic_index = index_of(tmp_path / "smic.csv", smic_folds, list(paper.SMIC_CLASSES),
                          extra=[("smic/s2/c1/5", 1, 1)])
    make_run(tmp_path / "runs", "loso", "micro_attention", casme_folds, index=casme_index,
             pooled=False, started=["casme2_sub02"])
    run = tmp_path / "runs" / "loso" / "micro_attention"
    for fold in smic_folds:    # the second database's folds land in the same folder
        make_run(tmp_path / "tmp", "loso", "micro_attention", smic_folds, index=smic_index,
                 classes=list(paper.SMIC_CLASSES))
        (tmp_path / "tmp" / "loso" / "micro_attention" / fold).rename(run / fold)
    (run / "metrics.json").write_text(json.dumps({"folds_pooled": ["smic_s1"]}))
    md, _ = write([run], tmp_path / "out")
    ours = [l for l in table_rows(md, paper.METHODS["micro_attention"]) if "this run" in l]
    row = cells(ours[0])
    assert row[0] == ("%s, this run (PARTIAL: CASME II 1 of 2 folds done)"
                      % paper.METHODS["micro_attention"])
    assert row[1:] == ["not run", "not run", "0.800", "%.3f" % float(by_fold_uf1()),
                       "0.500", "0.500"]   # SMIC: positive right, negative not (surprise absent)
    assert "1 of 1 folds done" in md     # SMIC, from its folds' provenance


def by_fold_uf1():
    """UF1 of fold casme2_sub01: happiness 2 right + 1 anger taken for it,
    surprise 1 right, anger 1 of 2 right: (4/5 + 1 + 2/3) / 3."""
    return (Fraction(4, 5) + 1 + Fraction(2, 3)) / 3


def test_two_runs_give_one_side_by_side_table(tmp_path):
    make_run(tmp_path / "runs", "cde", "micro_attention", CDE)
    make_run(tmp_path / "runs", "cde", "resnet10", collections.OrderedDict([
        ("casme2_sub01", [(s, t, t) for s, t, _ in CDE["casme2_sub01"]]),
        ("samm_006", [(s, t, 2) for s, t, _ in CDE["samm_006"]])]))
    md, _ = write([tmp_path / "runs" / "cde"], tmp_path / "out")   # expands to both nets
    start = md.index("## The runs side by side")
    side = md[start:md.index("\n## ", start + 5)]
    rows = [l for l in side.splitlines() if "this run" in l]
    assert len(rows) == 2
    assert "`micro_attention`" in rows[0] and "`resnet10`" in rows[1]
    # resnet10: 5 + 1 right of 10
    assert cells(rows[0])[5] == "0.700" and cells(rows[1])[5] == "0.600"
    table4 = md[md.index("## Table 4"):start]
    assert len([l for l in table4.splitlines() if l.startswith("| ") and ", this run" in l]) == 2


def test_setup_table_flags_a_reduced_epoch_budget(tmp_path):
    run = make_run(tmp_path / "runs", "cde", "micro_attention", CDE, epochs=2)
    md, html = write([run], tmp_path / "out")
    p = protocols.PROTOCOLS["cde"]
    row = table_rows(md, "epochs in all |")[0]
    assert cells(row)[1:3] == ["%d †" % p.total_epochs, "2 - **NOT the paper's setup**"]
    assert protocols.CHOICES[("cde", "total_epochs")] in row
    assert ("epochs in all is 2, the protocol table says %d. This run is NOT the paper's setup"
            % p.total_epochs) in md
    assert "NOT the paper&#x27;s setup" in html or "NOT the paper's setup" in html
    # every other setting equals the table and is not flagged
    flagged = [l for l in md.splitlines() if l.startswith("| ") and "NOT the paper" in l]
    assert flagged == [row]
    assert cells(table_rows(md, "weight decay |")[0])[1:3] == ["5e-6", "5e-6"]


def test_full_budget_run_has_no_setup_warning(tmp_path):
    run = make_run(tmp_path / "runs", "loso", "micro_attention", CDE)
    md, _ = write([run], tmp_path / "out")
    assert "NOT the paper" not in md
    row = table_rows(md, "augmentation: 4 corner crops |")[0]
    assert cells(row)[1:3] == ["yes †", "yes"]


# one run per protocol, with fold ids of that protocol
RUNS_OF = collections.OrderedDict([
    ("cde", ("micro_attention", CDE)),
    ("loso", ("micro_attention", CDE)),
    ("hde", ("micro_attention", collections.OrderedDict([
        ("casme2-to-samm", CDE["samm_006"]), ("samm-to-casme2", CDE["casme2_sub01"])]))),
    ("pretrain", ("resnet10", collections.OrderedDict([
        ("pretrain", [("ckplus/S005/001/10", 0, 0), ("mug/001/b/5", 2, 3)])]))),
])


def setup_markdown(root, protocol, **kw):
    """The setup-vs-paper section of a run of `protocol` made with make_run(**kw),
    as the report renders it (report.document.build puts it in every report)."""
    from microattention.report import load, render, setup
    net, folds = RUNS_OF[protocol]
    run = make_run(root, protocol, net, folds, **kw)
    return render.to_markdown(setup.section_setup(load.load_runs([str(run)])))


def flagged_rows(md):
    return [cells(l)[0] for l in md.splitlines() if l.startswith("| ") and "NOT the paper" in l]


def _augmentation(protocol, **change):
    return protocols.PROTOCOLS[protocol].augmentation._replace(**change)


# (row of the setup table, make_run keywords) for each protocol: every change
# from the paper's protocol that a run can make
DEVIATIONS = [
    ("solver (Caffe type)", lambda pr: {"changes": {"solver": "Adam"}}),
    ("BatchNorm statistics tested with", lambda pr: {"bn_recalibration": True}),
    ("initial weights", lambda pr: {"initial_weights": {"imagenet": False, "chain": [
        "resnet10_fillers.caffemodel (sha256 0123456789ab...): no record of where it came "
        "from"]}}),
    ("epochs in all", lambda pr: {"epochs": 2}),
    ("batch (train)", lambda pr: {"changes": {"batch": 4}}),
    ("base lr", lambda pr: {"changes": {"base_lr": protocols.PROTOCOLS[pr].base_lr * 10}}),
    ("lr step (epochs)", lambda pr: {"changes": {"step_epochs": 3}}),
    ("augmentation: colour shift (max)", lambda pr: {"changes": {"augmentation": _augmentation(
        pr, colour_shift=protocols.PROTOCOLS[pr].augmentation.colour_shift + 5)}}),
    ("augmentation: 4 corner crops", lambda pr: {"changes": {"augmentation": _augmentation(
        pr, corner_crops=not protocols.PROTOCOLS[pr].augmentation.corner_crops)}}),
]


@pytest.mark.parametrize("protocol", list(RUNS_OF))
def test_a_run_as_the_paper_has_no_flag(tmp_path, protocol):
    md = setup_markdown(tmp_path, protocol)
    assert flagged_rows(md) == []
    assert "NOT the paper" not in md
    row = table_rows(md, "solver (Caffe type) |")[0]
    assert cells(row)[2] == "SGD"
    row = table_rows(md, "initial weights |")[0]
    assert cells(row)[2] == ("ImageNet" if protocol == "pretrain"
                             else "ImageNet, then pre-training on macro-expressions")


@pytest.mark.parametrize("protocol", list(RUNS_OF))
@pytest.mark.parametrize("row,change", DEVIATIONS, ids=[d[0] for d in DEVIATIONS])
def test_every_deviation_is_flagged_in_its_row(tmp_path, protocol, row, change):
    md = setup_markdown(tmp_path, protocol, **change(protocol))
    assert flagged_rows(md) == [row]
    assert "- **NOT the paper's setup**" in cells(table_rows(md, row + " |")[0])[2]
    warnings = [l for l in md.splitlines() if l.startswith("> **WARNING:**")]
    assert len(warnings) == 1 and (": %s is " % row) in warnings[0]


def test_an_unfinished_fold_is_flagged_from_its_settings(tmp_path):
    # no provenance.json yet: the solver and batch come from settings.json's protocol_changes
    md = setup_markdown(tmp_path, "loso", changes={"solver": "Adam", "batch": 4}, done=[],
                        bn_recalibration=True)
    assert flagged_rows(md) == ["solver (Caffe type)", "batch (train)",
                                "BatchNorm statistics tested with"]
    assert cells(table_rows(md, "initial weights |")[0])[2] == \
        "not recorded yet (no finished fold)"


def test_an_unfinished_folds_unreadable_protocol_changes_are_an_error(tmp_path):
    # never the paper's values in place of changes this version cannot read
    run = make_run(tmp_path / "runs", "loso", "micro_attention", CDE, done=[],
                   changes={"solver": "Adam"})
    for fold in CDE:
        path = run / fold / "settings.json"
        doc = json.loads(path.read_text())
        doc["protocol_changes"] = {"solver": "Adam", "warmup_epochs": 2}   # a later version's
        path.write_text(json.dumps(doc))
    with pytest.raises(UserError, match="%s: protocol_changes .* cannot be read" % re.escape(
            str(run / "casme2_sub01" / "settings.json"))):
        write_report([str(run)], str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_the_demos_pre_training_report_flags_adam_recalibration_and_random_start(tmp_path):
    # the demo's pre-training: Adam, BatchNorm recalibrated, Caffe's fillers as the start
    from microattention.demo import config
    changes = dict(config.FULL.pretrain_changes)
    net, folds = RUNS_OF["pretrain"]
    run = make_run(tmp_path / "runs", "pretrain", net, folds, changes=changes,
                   bn_recalibration=True, initial_weights={"imagenet": False, "chain": [
                       "resnet10_fillers.caffemodel (sha256 0123456789ab...): no record of "
                       "where it came from"]})
    md, html = write([run], tmp_path / "out")
    flagged = flagged_rows(md)
    for row in ("solver (Caffe type)", "BatchNorm statistics tested with", "initial weights",
                "epochs in all", "batch (train)", "base lr"):
        assert row in flagged
    assert "initial weights is NOT traced to ImageNet, the paper's setup is ImageNet" in md
    assert "resnet10_fillers.caffemodel (sha256 0123456789ab...): no record" in md
    assert html.count('class="warn"') >= len(flagged)


# ------------------------------------------------------------------ weights' origin


def _sidecar(path, stage, inputs):
    from microattention.nets import sidecar
    sidecar.write_provenance(str(path), stage, inputs, {})


def test_weights_origin_follows_the_records_back_to_imagenet(tmp_path, monkeypatch):
    from microattention.train import provenance
    from microattention.nets import fetch
    imagenet = tmp_path / "resnet10_cvgj_iter_320000.caffemodel"
    imagenet.write_bytes(b"imagenet")
    # stand-in for the download: its sha256 is the one nets/fetch.py knows
    monkeypatch.setattr(fetch, "RESNET10_SHA256", files.sha256(imagenet))
    gray = tmp_path / "gray.caffemodel"
    gray.write_bytes(b"gray")
    _sidecar(gray, "imagenet-to-gray", {"in": str(imagenet)})
    origin = provenance.weights_origin(gray)
    assert origin["imagenet"] is True
    assert origin["chain"][0] == "gray.caffemodel: weights imagenet-to-gray"
    # the pre-training fold that started from it, and the transfer from its final weights
    fold = tmp_path / "runs" / "pretrain" / "resnet10" / "pretrain"
    fold.mkdir(parents=True)
    final = fold / "final.caffemodel"
    final.write_bytes(b"pretrained")
    (fold / "done.json").write_text(json.dumps({
        "final_snapshot_sha256": files.sha256(final),
        "settings": {"protocol": "pretrain", "fold": "pretrain",
                     "weights_sha256": files.sha256(gray)}}))
    (fold / "provenance.json").write_text(json.dumps({
        "inputs": {"weights": str(gray)}, "initial_weights": origin}))
    macro = tmp_path / "micro_attention_macro.caffemodel"
    macro.write_bytes(b"macro")
    _sidecar(macro, "transfer", {"from": str(final)})
    chained = provenance.weights_origin(macro)
    assert chained["imagenet"] is True
    assert chained["chain"][:2] == ["micro_attention_macro.caffemodel: weights transfer",
                                    "final.caffemodel: train-fold pretrain/pretrain (%s)" % fold]
    assert origin_label(chained, "loso") == \
        "ImageNet, then pre-training on macro-expressions"
    assert origin["pretrained"] is False and chained["pretrained"] is True
    # the label follows the recorded field, not the chain's display text
    assert origin_label(dict(chained, pretrained=False), "loso") == "ImageNet"
    assert origin_label(dict(chained, chain=["renamed"]), "loso") == \
        "ImageNet, then pre-training on macro-expressions"
    # a record from before the field: the train-fold link of its chain
    older = {"imagenet": True, "chain": chained["chain"]}
    assert origin_label(older, "loso") == \
        "ImageNet, then pre-training on macro-expressions"
    # weights changed after their record, or without one: not traced
    macro.write_bytes(b"trained further by hand")
    assert provenance.weights_origin(macro)["imagenet"] is False
    fillers = tmp_path / "fillers.caffemodel"
    fillers.write_bytes(b"fillers")
    origin = provenance.weights_origin(fillers)
    assert origin["imagenet"] is False
    assert origin["chain"] == ["fillers.caffemodel (sha256 %s...): no record of where it came "
                               "from" % files.sha256(fillers)[:12]]


@pytest.mark.parametrize("damaged", ["sidecar", "done.json", "provenance.json"])
def test_a_damaged_weights_record_is_an_error_not_an_untraced_origin(tmp_path, monkeypatch,
                                                                       damaged):
    from microattention.train import provenance
    from microattention.nets import fetch
    imagenet = tmp_path / "resnet10.caffemodel"
    imagenet.write_bytes(b"imagenet")
    monkeypatch.setattr(fetch, "RESNET10_SHA256", files.sha256(imagenet))
    fold = tmp_path / "pretrain"
    fold.mkdir()
    final = fold / "final.caffemodel"
    final.write_bytes(b"pretrained")
    (fold / "done.json").write_text(json.dumps({
        "final_snapshot_sha256": files.sha256(final),
        "settings": {"protocol": "pretrain", "fold": "pretrain",
                     "weights_sha256": files.sha256(imagenet)}}))
    (fold / "provenance.json").write_text(json.dumps({"inputs": {"weights": str(imagenet)}}))
    macro = tmp_path / "macro.caffemodel"
    macro.write_bytes(b"macro")
    _sidecar(macro, "transfer", {"from": str(final)})
    assert provenance.weights_origin(macro)["imagenet"] is True
    path = {"sidecar": tmp_path / "macro.caffemodel.json", "done.json": fold / "done.json",
            "provenance.json": fold / "provenance.json"}[damaged]
    path.write_text(path.read_text()[:20])     # cut short
    with pytest.raises(UserError, match="%s is not readable JSON" % re.escape(str(path))):
        provenance.weights_origin(macro)


# ------------------------------------------------------------------ folds of the protocol


def test_a_subset_pooled_by_run_is_partial_whatever_metrics_json_says(tmp_path):
    from microattention.train import runs
    three = collections.OrderedDict(list(CDE.items()) + [
        ("casme2_sub02", [("casme2/sub02/EP01/5", 2, 2), ("casme2/sub02/EP02/5", 3, 2)])])
    run = make_run(tmp_path / "runs", "cde", "micro_attention", three, pooled=False)
    runs.pool(tmp_path / "runs", "cde", "micro_attention", list(CDE), metrics)   # 2 of the 3
    pooled = json.loads((run / "metrics.json").read_text())
    assert pooled["folds_pooled"] == list(CDE) and pooled["complete"] is False
    assert pooled["folds_of_protocol"] == list(three)
    # the third fold's folder is gone: only its siblings' provenance knows of it
    import shutil
    shutil.rmtree(str(run / "casme2_sub02"))
    md, _ = write([run], tmp_path / "out")
    assert "2 of 3 folds done - PARTIAL" in md
    assert cells(table_rows(md, "casme2_sub02 |")[0])[1] == "not started"
    assert "| pooled (PARTIAL) |" in md
    # even a metrics.json claiming the two are all: the folds' record wins
    (run / "metrics.json").write_text(json.dumps({"folds_pooled": list(CDE),
                                                  "folds_of_protocol": list(CDE)}))
    md, _ = write([run], tmp_path / "out2")
    assert "2 of 3 folds done - PARTIAL" in md


def test_a_pooled_list_alone_is_not_the_protocols_fold_list(tmp_path):
    # folds from before the record, pooled by an older `run`: the total is unknown
    run = make_run(tmp_path / "runs", "cde", "micro_attention", CDE, protocol_folds=False)
    md, _ = write([run], tmp_path / "out")
    assert "2 of ? folds done (total unknown) - PARTIAL" in md


# ------------------------------------------------------------------ provenance


def test_recorded_provenance_is_printed(tmp_path):
    run = make_run(tmp_path / "runs", "cde", "micro_attention", CDE, environment=dict(
        git_commit="0123abcd" * 5, blas="OpenBLAS 0.3.13, kernel Haswell",
        image="MA_IMAGE_ID=sha256:feed", host="node07", device="CPU: Test CPU, 2 logical cores"))
    md, _ = write([run], tmp_path / "out")
    section = md[md.index("### Provenance"):]
    for line in ("- git commit: %s" % ("0123abcd" * 5), "- BLAS: OpenBLAS 0.3.13, kernel Haswell",
                 "- image: MA_IMAGE_ID=sha256:feed", "- host: node07",
                 "- device: CPU: Test CPU, 2 logical cores", "- Caffe: caffe version 1.0.0"):
        assert line + "\n" in section
    assert "not recorded by the run" not in section
    # a run from before the record says so
    old = make_run(tmp_path / "old", "cde", "micro_attention", CDE)
    md, _ = write([old], tmp_path / "out-old")
    assert "- host: not recorded by the run\n" in md


def test_the_environment_record_names_commit_image_host_and_device(monkeypatch):
    from microattention.train import provenance
    monkeypatch.setenv("MA_GIT_COMMIT", "f" * 40)
    monkeypatch.setenv("MA_IMAGE_ID", "sha256:" + "e" * 64)
    monkeypatch.delenv("MA_IMAGE", raising=False)
    monkeypatch.delenv("MA_IMAGE_DIGEST", raising=False)
    env = provenance.environment(gpu=None)
    assert list(env) == ["git_commit", "caffe_version", "blas", "image", "host", "device"]
    assert env["git_commit"] == "f" * 40
    assert env["image"] == "MA_IMAGE_ID=sha256:" + "e" * 64
    import socket
    assert env["host"] == socket.gethostname()
    assert env["device"].startswith("CPU: ") and env["device"].endswith(
        "%d logical cores" % os.cpu_count())
    assert provenance.device(1).startswith("GPU 1")
    monkeypatch.delenv("MA_IMAGE_ID")
    assert provenance.image().startswith("not known")


# ------------------------------------------------------------------ bad input


def test_bad_input_is_a_user_error_and_writes_nothing(tmp_path):
    runs = tmp_path / "runs"
    cde = make_run(runs, "cde", "micro_attention", CDE)
    loso = make_run(runs, "loso", "micro_attention", CDE)
    out = tmp_path / "out"
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ([str(empty)], out, "is not a run folder"),
        ([str(tmp_path / "missing")], out, "does not exist"),
        ([str(cde / "casme2_sub01" / "done.json")], out, "is a file"),
        ([str(cde / "casme2_sub01")], out, "one fold's folder"),
        ([str(cde), str(loso)], out, "different protocols"),
        ([str(runs)], out, "different protocols"),
        ([str(cde), str(cde)], out, "given twice"),
        ([str(cde)], cde, "is an input"),
        ([str(cde)], cde / "samm_006", "is an input"),
        ([str(runs / "cde")], runs / "cde", "is an input"),
    ]
    for paths, where, message in cases:
        with pytest.raises(UserError, match=message):
            write_report(paths, str(where))
    assert not out.exists()
    assert not (cde / "report.md").exists()


def test_a_run_mixing_seeds_is_refused(tmp_path):
    run = make_run(tmp_path / "runs", "cde", "micro_attention", CDE)
    settings = run / "samm_006" / "settings.json"
    doc = json.loads(settings.read_text())
    doc["seed"] = 7
    settings.write_text(json.dumps(doc))
    with pytest.raises(UserError, match="mixes settings: seed 0 in fold"):
        write_report([str(run)], str(tmp_path / "out"))


def test_per_fold_init_accepts_seeds_and_start_weights_only_and_says_so(tmp_path):
    # the attention experiment: each fold its own seed and attention draw
    run = make_run(tmp_path / "runs", "cde", "micro_attention", CDE)
    settings = run / "samm_006" / "settings.json"
    doc = json.loads(settings.read_text())
    doc["seed"], doc["weights_sha256"] = 7, "0" * 64
    settings.write_text(json.dumps(doc))
    _, written = write_report([str(run)], str(tmp_path / "out"), per_fold_init=True)
    text = (tmp_path / "out" / "report.md").read_text()
    assert "own seed and its own start weights" in text and "seeds 0, 7" in text
    # control: any other difference is still refused with per_fold_init
    doc["epochs"] = 3
    settings.write_text(json.dumps(doc))
    with pytest.raises(UserError, match="mixes settings: epochs"):
        write_report([str(run)], str(tmp_path / "out2"), per_fold_init=True)


def test_folds_recording_different_protocol_folds_are_refused_by_pool_and_report(tmp_path):
    # folds trained on different indexes: neither `run` nor the report picks one list
    from microattention.train import runs
    run = make_run(tmp_path / "runs", "cde", "micro_attention", CDE, pooled=False)
    path = run / "samm_006" / "provenance.json"
    doc = json.loads(path.read_text())
    doc["protocol_folds"] = ["samm_006", "smic_s1"]
    path.write_text(json.dumps(doc))
    message = "folds casme2_sub01 and samm_006 of .* list different protocol folds"
    with pytest.raises(UserError, match=message):
        runs.pool(tmp_path / "runs", "cde", "micro_attention", list(CDE), metrics)
    with pytest.raises(UserError, match=message):
        write_report([str(run)], str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("key,value", [
    ("protocol_changes", {"solver": "Adam"}),
    ("bn_recalibration", "one epoch of training batches")])
def test_a_run_mixing_a_variant_fold_with_plain_ones_is_refused(tmp_path, key, value):
    # the key is written only when used: one fold has it, the other not
    run = make_run(tmp_path / "runs", "cde", "micro_attention", CDE)
    settings = run / "samm_006" / "settings.json"
    doc = json.loads(settings.read_text())
    doc[key] = value
    settings.write_text(json.dumps(doc))
    with pytest.raises(UserError, match="mixes settings: %s not set in fold\\(s\\) casme2_sub01; "
                       % key):
        write_report([str(run)], str(tmp_path / "out"))


def test_cli_reports_a_bad_folder_without_a_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    proc = subprocess.run([sys.executable, "-m", "microattention", "report", str(tmp_path),
                           "--out", str(tmp_path / "out")], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=env)
    assert proc.returncode == 1
    assert proc.stderr.startswith("microattention report: error: %s is not a run folder"
                                  % tmp_path)
    assert "Traceback" not in proc.stderr


def test_cli_writes_the_report(tmp_path):
    run = make_run(tmp_path / "runs", "cde", "micro_attention", CDE)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    proc = subprocess.run([sys.executable, "-m", "microattention", "report", str(run),
                           "--out", str(tmp_path / "out")], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "2 of 2 folds done" in proc.stdout
    assert (tmp_path / "out" / "report.html").is_file()


# ------------------------------------------------------------------ the example


# what train-fold records about where it ran (microattention.provenance), invented
EXAMPLE_ENVIRONMENT = collections.OrderedDict([
    ("git_commit", "0123456789abcdef0123456789abcdef01234567"),
    ("blas", "OpenBLAS 0.3.13 NO_AFFINITY USE_OPENMP HASWELL MAX_THREADS=64, kernel Haswell "
             "(OPENBLAS_CORETYPE=Haswell (set by microattention for this CPU)), "
             "OPENBLAS_NUM_THREADS=2"),
    ("image", "MA_IMAGE=localhost/micro-attention:latest, MA_IMAGE_ID=sha256:"
              "89abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567"),
    ("host", "example-host"),
    ("device", "CPU: Example CPU @ 2.10GHz, 2 logical cores"),
])


def example_runs(root):
    """Synthetic CDE runs shaped like the paper's (26 CASME II + 20 SAMM
    subjects, 46 folds): micro_attention finished, resnet10 at 40 of 46 folds.
    Predictions are drawn at random (seeded), about 70 % right."""
    import random
    rng = random.Random(2020)
    folds = collections.OrderedDict()
    subjects = [("casme2", "sub%02d" % i) for i in range(1, 27)] + \
        [("samm", "%03d" % i) for i in range(6, 26)]
    for dataset, subject in subjects:
        samples = []
        for clip in range(rng.randint(2, 8)):
            true = rng.choice([0, 1, 2, 2, 2, 3, 3, 4])
            samples.append(("%s/%s/c%d/10" % (dataset, subject, clip), true, true))
        folds["%s_%s" % (dataset, subject)] = samples

    def predicted(rate):
        return collections.OrderedDict(
            (f, [(s, t, t if rng.random() < rate else rng.randrange(5)) for s, t, _ in rows])
            for f, rows in folds.items())
    a = make_run(root, "cde", "micro_attention", predicted(0.72), environment=EXAMPLE_ENVIRONMENT)
    b = make_run(root, "cde", "resnet10", predicted(0.68), done=list(folds)[:40], pooled=False,
                 started=[], environment=EXAMPLE_ENVIRONMENT)
    return [a, b]


def test_46_folds_give_one_small_multiples_figure(tmp_path):
    # the resnet10 run of the example: 46 fold folders, 40 finished, not pooled
    run = example_runs(tmp_path / "runs")[1]
    out = tmp_path / "out"
    md, html = write([run], out)
    assert sorted(p.name for p in out.glob("curves-*.png")) == [
        "curves-resnet10-runs-cde-resnet10.png"]
    assert "40 of 46 folds done - PARTIAL" in md      # the folds' provenance lists all 46
    status = [cells(l)[1] for l in table_rows(md, "") if re.match(r"\| (casme2_sub|samm_0)", l)
              and "done" in cells(l)[1]]
    assert status == ["done"] * 40 + ["not done (started)"] * 6
    assert cells(table_rows(md, "samm_020 |")[0])[1] == "not done (started)"


BANNER = ("SYNTHETIC EXAMPLE: made by `python3 tests/test_report.py OUT` from invented "
          "predictions and caffe logs (random, seeded), to show the report's layout. "
          "None of its numbers is a result of training.")


if __name__ == "__main__":
    # python3 tests/test_report.py OUT: the synthetic example; OUT/report.html
    # is committed as docs/report-example.html
    import pathlib
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        runs = example_runs(pathlib.Path(tmp) / "runs")
        write_report([str(r) for r in runs], sys.argv[1], stamp="(synthetic example)")
    out = pathlib.Path(sys.argv[1])
    # the temporary folder's name is not part of the example
    md = (out / "report.md").read_text().replace(tmp, "/tmp/example")
    (out / "report.md").write_text("> **%s**\n\n%s" % (BANNER, md))
    page = (out / "report.html").read_text()
    page = page.replace("<body>", '<body>\n<p class="warn">%s</p>' % BANNER.replace(
        "`python3 tests/test_report.py OUT`", "<code>python3 tests/test_report.py OUT</code>"), 1)
    page = page.replace(tmp, "/tmp/example")
    (out / "report.html").write_text(page)


def test_report_of_a_real_caffe_run(tmp_path):
    """The layout as the run command really writes it: HDE, 2 folds, 1 epoch
    of random weights in real Caffe (tests/test_training.py's data helpers)."""
    pytest.importorskip("cv2")
    pytest.importorskip("lmdb")
    try:
        import test_training as tt
    except pytest.skip.Exception:
        pytest.skip("pycaffe not available (run inside the image)")
    index, faces, ids = tt.write_data(tmp_path / "data", tt.HDE_ROWS)
    weights = tt.random_weights(tmp_path / "init.caffemodel", "micro_attention")
    tt.cli("run", "--protocol", "hde", "--index", index, "--faces", faces, "--weights", weights,
           "--run-dir", tmp_path / "runs", "--epochs", 1)
    run = tmp_path / "runs" / "hde" / "micro_attention"
    md, html = write([tmp_path / "runs"], tmp_path / "out")
    assert "2 of 2 folds done" in md and "PARTIAL" not in md
    pooled = json.loads((run / "metrics.json").read_text())
    by_fold = {f["fold"]: f for f in pooled["folds"]}
    ours = table_rows(md, paper.METHODS["micro_attention"] + ", this run")[0]
    assert cells(ours)[1:] == ["%.3f" % by_fold[f][m] for m in ("war", "uar")
                               for f in ("casme2-to-samm", "samm-to-casme2")]
    row = table_rows(md, "epochs in all |")[0]
    assert cells(row)[2] == "1 - **NOT the paper's setup**"
    # control of the NOT-a-result column: one epoch, so the best test epoch is
    # the last, and caffe's test net logged the final snapshot's WAR
    side = [l for l in table_rows(md, paper.METHODS["micro_attention"] + ", this run")
            if "`micro_attention`" in l][0]
    assert cells(side)[9] == cells(side)[5] == "%.3f" % pooled["pooled"]["war"]
    # random initial weights: no record leads back to ImageNet
    assert flagged_rows(md) == ["initial weights", "epochs in all"]
    assert "initial weights of %s: init.caffemodel (sha256 %s...): no record of where it came " \
        "from" % (paper.METHODS["micro_attention"], files.sha256(weights)[:12]) in md
    prov = json.loads((run / "casme2-to-samm" / "provenance.json").read_text())
    section = md[md.index("### Provenance"):md.index("## Where this report was made")]
    assert "not recorded by the run" not in section
    for key in ("git commit", "BLAS", "image", "host", "device"):
        label = {"git commit": "git_commit", "BLAS": "blas"}.get(key, key)
        assert "- %s: %s\n" % (key, prov[label]) in section
    done = json.loads((run / "casme2-to-samm" / "done.json").read_text())
    assert "- Caffe: %s\n" % prov["caffe_version"] in md
    assert "- initial weights sha256 `%s`" % files.sha256(weights) in md
    assert "`%s`" % done["final_snapshot_sha256"] in md
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 3  # 2 curves, 1 confusion
