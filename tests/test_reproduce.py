"""The reproduce command: which databases it finds and which tables follow,
the plan it prints (commands, disk, time), resuming without redoing a
finished stage, and the SCALED marks of a dress rehearsal. The databases are
the small generated trees of dataset_fixtures (released layouts); nothing
here trains (tests/test_rehearsal.py runs the whole chain)."""
import os
import shlex

import pytest

import dataset_fixtures as fx
from test_report import CDE, make_run, write
from microattention import cli, files, protocols
from microattention.errors import UserError
from microattention.reproduce import command, discover, estimate, eta, plan, stages, summary

ALL = ("casme2", "samm", "smic", "ckplus", "oulu", "jaffe", "mug")
SMALL = {"casme2": lambda r: fx.casme2(r, subjects=4),
         "samm": lambda r: fx.samm(r, subjects=5, kept_subjects=3),
         "smic": lambda r: fx.smic(r),
         "ckplus": lambda r: fx.ckplus(r, subjects=10),
         "oulu": lambda r: fx.oulu(r, subjects=3, frames=4),
         "jaffe": lambda r: fx.jaffe(r),
         "mug": lambda r: fx.mug(r, images=400, subjects=4)}


def tree(root, names, folder_names=None):
    """The databases `names` under root, each in its released layout, in the
    folder folder_names[name] (default: the canonical name)."""
    for name in names:
        SMALL[name](str(root / (folder_names or {}).get(name, name)))
    return root


def settings(out, present, tables=(2, 3, 4, 5, 6), nets=plan.NETS, scale=1, start=None,
             folds=None, gpu=None, jobs=1):
    return plan.Settings(str(out), present, list(tables), list(nets), gpu, jobs, scale, start,
                         False, folds)


def argvs(stage_list, word):
    return [s.argv for s in stage_list if s.argv[3] == word]


def option(argv, name):
    return argv[list(argv).index(name) + 1]


# ------------------------------------------------------------------ discovery


def test_release_folder_names_are_found_and_the_rest_reported_missing(tmp_path):
    for name in ("CASME II", "SAMM", "CK+", "Oulu-CASIA", "jaffedbase", "notes"):
        (tmp_path / name).mkdir()
    (tmp_path / "smic.txt").write_text("a file, not a database")
    found = discover.discover(str(tmp_path))
    assert found.present == {"casme2": str(tmp_path / "CASME II"),
                             "samm": str(tmp_path / "SAMM"), "ckplus": str(tmp_path / "CK+"),
                             "oulu": str(tmp_path / "Oulu-CASIA"),
                             "jaffe": str(tmp_path / "jaffedbase")}
    assert found.missing == ["smic", "mug"]
    lines = "\n".join(discover.summary_lines(found, [2, 3, 4, 5, 6]))
    assert "smic    SMIC       missing" in lines
    assert "Table 2: will be made" in lines and "Table 6: will be made" in lines
    assert "columns of SMIC missing" in lines
    assert "pre-training pools CK+, Oulu-CASIA, JAFFE only" in lines


def test_tables_follow_from_the_databases_present():
    assert discover.makeable(2, {"casme2": "x"}) == (False, ["samm"])
    assert discover.makeable(4, {"casme2": "x", "samm": "y"}) == (True, [])
    assert discover.makeable(6, {"smic": "x"}) == (True, [])
    assert discover.makeable(6, {"ckplus": "x"}) == (False, ["samm", "casme2", "smic"])
    assert discover.makeable(3, {}) == (True, [])        # Table 3 needs no data
    lines = discover.summary_lines(discover.Found({"smic": "s"}, [], {"smic": "found"}),
                                   [2, 6])
    assert "  Table 2: cannot be made, needs CASME II and SAMM" in "\n".join(lines)


def test_dataset_override_wins_over_the_folder_found(tmp_path):
    (tmp_path / "data" / "casme2").mkdir(parents=True)
    elsewhere = tmp_path / "mine" / "CASME-copy"
    elsewhere.mkdir(parents=True)
    found = discover.discover(str(tmp_path / "data"),
                              discover.parse_overrides(["casme2=%s" % elsewhere]))
    assert found.present["casme2"] == str(elsewhere) and found.how["casme2"] == "--dataset"
    # --dataset alone, no --data
    assert discover.discover(None, {"samm": "/x"}).present == {"samm": "/x"}


@pytest.mark.parametrize("value, message", [
    ("casme2", "write NAME=PATH"),
    ("=/tmp", "write NAME=PATH"),
    ("casme3=/tmp", "unknown database 'casme3'"),
    ("samm=/no/such/folder", "/no/such/folder does not exist"),
])
def test_bad_dataset_values_are_errors_naming_them(value, message):
    with pytest.raises(UserError) as err:
        discover.parse_overrides([value])
    assert message in str(err.value) and value.split("=")[0] in str(err.value)


def test_dataset_given_twice_or_a_file_is_an_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="is not a folder"):
        discover.parse_overrides(["smic=%s" % (tmp_path / "f")])
    with pytest.raises(UserError, match="given twice"):
        discover.parse_overrides(["smic=%s" % tmp_path, "smic=%s" % tmp_path])


def test_two_folders_of_one_database_are_an_error(tmp_path):
    (tmp_path / "CASME2").mkdir()
    (tmp_path / "CASME II").mkdir()
    with pytest.raises(UserError, match="several folders.*--dataset casme2=PATH"):
        discover.discover(str(tmp_path))


def test_bad_tables_and_options_are_errors(tmp_path):
    with pytest.raises(UserError, match="'7' is not a table"):
        discover.parse_tables("2,7")
    assert discover.parse_tables("6, 2,2") == [2, 6]
    code = cli.main(["reproduce", "--out", str(tmp_path / "o")])
    assert code == 1          # neither --data nor --dataset


def test_paths_as_seen_from_the_clone_work_in_the_container(tmp_path, monkeypatch):
    clone, workspace = tmp_path / "clone", tmp_path / "workspace-mount"
    clone.mkdir()
    (workspace / "tree").mkdir(parents=True)
    (clone / "workspace").symlink_to(workspace)
    monkeypatch.setattr(files, "project_root", lambda: clone)
    monkeypatch.chdir(workspace)            # the container: working directory /workspace
    assert command.clone_path("workspace/tree") == "tree"
    assert command.clone_path("workspace/rehearsal") == "rehearsal"    # an --out to be made
    assert command.clone_path("elsewhere/x") == "elsewhere/x"
    monkeypatch.chdir(clone)                # the host, from the clone: as given
    assert command.clone_path("workspace/rehearsal") == "workspace/rehearsal"


# ------------------------------------------------------------------ the plan


def test_plan_of_all_seven_databases(tmp_path):
    present = {n: "/d/" + n for n in ALL}
    stage_list, notes = plan.make_plan(settings(tmp_path / "out", present))
    names = [s.name for s in stage_list]
    groups = [s.group for s in stage_list]
    # index -> faces -> weights -> pre-training -> transfers -> runs -> reports, in order
    order = ["index", "faces", "weights", "pretrain", "transfer", "run", "report"]
    assert [g for i, g in enumerate(groups) if i == 0 or groups[i - 1] != g] == order
    runs = argvs(stage_list, "run")
    protocol_nets = sorted((option(a, "--protocol"), option(a, "--net")) for a in runs
                           if option(a, "--protocol") != "pretrain")
    assert len(protocol_nets) == 15      # HDE, CDE, LOSO x 3 databases, x 3 nets
    assert sorted(set(protocol_nets)) == sorted(
        (p, n) for p in ("hde", "cde", "loso") for n in plan.NETS)
    pretrain = [a for a in runs if option(a, "--protocol") == "pretrain"][0]
    assert option(pretrain, "--weights").endswith(plan.GRAY)
    assert "--epochs" not in pretrain           # full scale: the protocol's epochs
    assert names[:5] == ["index-casme2+samm", "index-casme2", "index-samm", "index-smic",
                         "index-macro"]
    macro = argvs(stage_list, "index")[-1]
    assert [macro[i + 1] for i, a in enumerate(macro) if a == "--dataset"] == \
        ["ckplus", "oulu", "jaffe", "mug"]
    assert "--mug-apex" not in macro
    assert notes == []


def test_mug_apex_goes_to_the_index_that_reads_mug_only(tmp_path):
    present = {n: "/d/" + n for n in ALL}
    given = settings(tmp_path / "out", present)._replace(mug_apex="/d/mug-apex.csv")
    stage_list, _ = plan.make_plan(given)
    with_apex = [a for a in argvs(stage_list, "index") if "--mug-apex" in a]
    assert len(with_apex) == 1 and option(with_apex[0], "--mug-apex") == "/d/mug-apex.csv"
    assert "mug" in with_apex[0] and option(with_apex[0], "--out").endswith("macro.csv")


def test_smic_gets_three_class_weights_and_resnet10_the_snapshot(tmp_path):
    present = {n: "/d/" + n for n in ALL}
    stage_list, _ = plan.make_plan(settings(tmp_path, present))
    runs = {(option(a, "--protocol"), option(a, "--net"), option(a, "--index")): a
            for a in argvs(stage_list, "run") if "--net" in a}
    pretrained = os.path.join(str(tmp_path), plan.PRETRAINED)
    smic = runs["loso", "resnet10", os.path.join(str(tmp_path), "index", "smic.csv")]
    assert option(smic, "--weights").endswith("resnet10_macro_smic.caffemodel")
    casme = runs["loso", "resnet10", os.path.join(str(tmp_path), "index", "casme2.csv")]
    assert option(casme, "--weights") == pretrained
    transfers = {option(a, "--out"): a for a in argvs(stage_list, "weights")
                 if a[4] == "transfer"}
    for net in plan.NETS:
        three = transfers[os.path.join(str(tmp_path), "weights",
                                       "%s_macro_smic.caffemodel" % net)]
        assert option(three, "--num-output") == "3" and "--reinit-classifier" in three
        assert option(three, "--from") == pretrained
    assert not any(k.endswith("resnet10_macro.caffemodel") for k in transfers)
    # each database's LOSO in its own run folder; Table 6 reports the three
    table6 = [s for s in stage_list if s.name == "table6"][0].argv
    assert [a for a in table6 if "loso-" in a] == [
        os.path.join(str(tmp_path), "runs", "loso-" + d, "loso") for d in ("casme2", "samm",
                                                                            "smic")]


def test_start_weights_and_no_macro_sets(tmp_path):
    present = {"casme2": "/d/c", "samm": "/d/s"}
    stage_list, notes = plan.make_plan(settings(tmp_path, present, tables=(2,),
                                                start="/w/mine.caffemodel"))
    assert not [s for s in stage_list if s.group in ("weights", "pretrain")]
    assert all(option(a, "--from") == "/w/mine.caffemodel" for a in argvs(stage_list, "weights"))
    assert "NOT the ImageNet ResNet-10" in notes[0] and "no pre-training" in notes[1]
    assert [s.name for s in stage_list if s.group == "report"] == ["table2"]
    assert not [s for s in stage_list if s.name.startswith("loso")]


def test_scale_multiplies_every_epoch_count(tmp_path):
    present = {n: "/d/" + n for n in ALL}
    stage_list, _ = plan.make_plan(settings(tmp_path, present, scale=0.1))
    for argv in argvs(stage_list, "run"):
        p = protocols.get(option(argv, "--protocol"))
        assert option(argv, "--epochs") == str(round(p.total_epochs * 0.1))
    assert option(argvs(stage_list, "summary")[0], "--iterations") == "1"
    tiny, _ = plan.make_plan(settings(tmp_path, present, scale=0.001))
    assert {option(a, "--epochs") for a in argvs(tiny, "run")} == {"1"}   # at least one


def test_gpu_and_jobs_reach_the_commands(tmp_path):
    present = {"smic": "/d/smic"}
    stage_list, _ = plan.make_plan(settings(tmp_path, present, tables=(3, 6), gpu=1, jobs=2,
                                            start="/w.caffemodel"))
    for argv in argvs(stage_list, "run"):
        assert option(argv, "--gpu") == "1" and option(argv, "--jobs") == "2"
    assert option(argvs(stage_list, "faces")[0], "--workers") == "2"
    assert option(argvs(stage_list, "summary")[0], "--gpu") == "1"


def test_folds_trains_the_first_folds_with_train_fold(tmp_path):
    root = tree(tmp_path / "data", ["casme2", "samm"])
    present = discover.discover(str(root)).present
    s = settings(tmp_path / "out", present, tables=(4,), nets=["micro_attention"], folds=2,
                 start="/w.caffemodel")
    estimator = estimate.Estimator(s)
    stage_list, notes = plan.make_plan(s, estimator.fold_ids)
    folds = [option(a, "--fold") for a in argvs(stage_list, "train-fold")]
    assert folds == estimator.fold_ids(["casme2", "samm"], "cde")[:2]
    assert "every table is PARTIAL" in notes[-1]


# ------------------------------------------------------------------ estimates


def test_estimates_come_from_the_data_and_the_caffe_time(tmp_path):
    root = tree(tmp_path / "data", ["casme2", "samm"])
    present = discover.discover(str(root)).present
    s = settings(tmp_path / "out", present, tables=(4,), nets=["micro_attention"],
                 start="/w.caffemodel")
    stage_list, _ = plan.make_plan(s)
    cde = [st for st in stage_list if st.name == "cde-micro_attention"][0]
    # the folds of CDE: one per subject with a sample, 4 + 3 here
    assert len(estimate.Estimator(s).fold_ids(["casme2", "samm"], "cde")) == 7
    times = {n: {"forward_ms": 100.0, "backward_ms": 200.0, "forward_backward_ms": 300.0,
                 "stored_values": 1000} for n in plan.NETS}
    one = estimate.Estimator(s, times).stage(cde)
    doubled = {n: dict(v, forward_ms=200.0, forward_backward_ms=600.0) for n, v in times.items()}
    two = estimate.Estimator(s, doubled).stage(cde)
    assert two.seconds == pytest.approx(2 * one.seconds)      # time follows the measurement
    assert two.bytes == one.bytes and one.bytes > 0
    index = [st for st in stage_list if st.group == "index"][0]
    assert "samples" in estimate.Estimator(s, times).stage(index).note


def test_plan_option_prints_the_plan_and_stops(tmp_path, capsys):
    root = tree(tmp_path / "data", ["smic"])
    out = tmp_path / "out"
    cache = out / "reproduce" / estimate.CACHE_NAME
    files.output_dir(cache.parent)
    files.write_json(cache, {"machine": estimate.machine_key(None), "nets": {
        n: {"forward_ms": 50.0, "backward_ms": 50.0, "forward_backward_ms": 100.0,
            "stored_values": 10 ** 6} for n in plan.NETS}})
    weights = tmp_path / "mine.caffemodel"
    weights.write_bytes(b"not read by --plan")
    code = cli.main(["reproduce", "--data", str(root), "--out", str(out), "--plan",
                     "--start-weights", str(weights), "--tables", "3,6"])
    text = capsys.readouterr().out
    assert code == 0
    assert "smic    SMIC       present" in text and "casme2  CASME II   missing" in text
    printed = [l.strip() for l in text.splitlines() if l.startswith("      python3 -m")]
    saved = files.read_json(out / "reproduce" / summary.PLAN_JSON)
    assert printed == [s["command"] for s in saved] and len(printed) > 5
    assert [shlex.split(p) for p in printed] == [s["argv"] for s in saved]
    assert "disk: about" in text and "time: about" in text
    assert not (out / "index").exists() and not (out / "reproduce" / "stages").exists()


def test_a_database_not_in_its_released_layout_stops_the_plan(tmp_path, capsys):
    (tmp_path / "data" / "samm").mkdir(parents=True)       # empty: no sheet, no frames
    code = cli.main(["reproduce", "--data", str(tmp_path / "data"), "--out",
                     str(tmp_path / "out"), "--plan", "--tables", "6"])
    assert code == 1
    assert "SAMM in %s is not in its released layout" % (tmp_path / "data" / "samm") in \
        capsys.readouterr().err


# ------------------------------------------------------------------ running, resuming


def tiny_plan(out, scale=1):
    present = {"smic": "/d/smic"}
    return plan.make_plan(settings(out, present, tables=(3, 6), nets=["resnet10"],
                                   start="/w.caffemodel", scale=scale))[0]


def test_a_finished_stage_is_not_run_again(tmp_path):
    out = str(tmp_path / "out")
    ran = []

    def runner(argv):
        ran.append(argv)
        return 0
    stage_list = tiny_plan(out)
    stages.run_all(out, stage_list, lambda t: None, runner=runner)
    assert ran == [list(s.argv) for s in stage_list]
    assert stages.logged_commands(out) == [plan.shell_line(s.argv) for s in stage_list]
    ran.clear()
    records = stages.run_all(out, stage_list, lambda t: None, runner=runner)
    assert ran == [] and set(records.values()) == {None}
    # a stage whose command changed (here: its --out) is run again, alone
    changed = [s._replace(argv=s.argv[:-1] + ("elsewhere",)) if s.name == "table3" else s
               for s in stage_list]
    stages.run_all(out, changed, lambda t: None, runner=runner)
    assert ran == [list(s.argv) for s in changed if s.name == "table3"]


def test_a_failing_stage_stops_and_is_run_again_next_time(tmp_path):
    out = str(tmp_path / "out")
    stage_list = tiny_plan(out)
    calls = []

    def failing(argv):
        calls.append(argv)
        return 3 if len(calls) == 2 else 0
    with pytest.raises(UserError, match="stage %s failed \\(exit 3\\)" % stage_list[1].name):
        stages.run_all(out, stage_list, lambda t: None, runner=failing)
    assert stages.finished(out, stage_list[0]) and not stages.finished(out, stage_list[1])
    calls.clear()
    stages.run_all(out, stage_list, lambda t: None, runner=lambda a: calls.append(a) or 0)
    assert calls[0] == list(stage_list[1].argv)


# ------------------------------------------------------------------ scale marks


def test_a_scaled_run_marks_every_table_and_its_summary(tmp_path):
    out = str(tmp_path / "out")
    stage_list = tiny_plan(out, scale=0.05)
    records = stages.run_all(out, stage_list, lambda t: None, scale=0.05,
                             runner=lambda argv: 0)
    tables = [s for s in stage_list if s.group == "report"]
    assert len(tables) == 2
    for stage in tables:
        note = open(os.path.join(stage.info["folder"], stages.SCALED_NAME)).read()
        assert "SCALED" in note and "NOT a result" in note
    s = settings(out, {"smic": "/d/smic"}, tables=(3, 6), scale=0.05)
    found = discover.Found({"smic": "/d/smic"}, [], {})
    text = open(summary.write_summary(s, found, stage_list, records, [], 1.0)).read()
    assert text.splitlines()[2].startswith("> **SCALED")
    assert "| Table 6 (SCALED) |" in text and "| Table 3 (SCALED) |" in text
    # the control: a full-scale run writes no mark
    full = str(tmp_path / "full")
    stages.run_all(full, tiny_plan(full), lambda t: None, runner=lambda argv: 0)
    assert not any(f == stages.SCALED_NAME for _, _, names in os.walk(full) for f in names)


def test_one_out_holds_one_scale(tmp_path):
    out = tmp_path / "out"
    summary.check_same_scale(settings(out, {}, scale=0.1))
    summary.check_same_scale(settings(out, {}, scale=0.1))       # the same: continues
    with pytest.raises(UserError, match="holds a reproduction at --scale 0.1"):
        summary.check_same_scale(settings(out, {}, scale=1))


def test_report_says_scaled_when_fewer_epochs_were_trained(tmp_path):
    scaled = make_run(tmp_path / "a", "cde", "micro_attention", CDE, epochs=2)
    md, html = write([scaled], tmp_path / "out-a")
    total = protocols.get("cde").total_epochs
    assert ("SCALED: trained 2 of the protocol's %d epochs" % total) in md
    assert ", this run (SCALED: 2 of %d epochs)" % total in md and "SCALED" in html
    full = make_run(tmp_path / "b", "cde", "micro_attention", CDE)
    md, _ = write([full], tmp_path / "out-b")
    assert "SCALED" not in md


# ------------------------------------------------------------------ overall ETA


def test_eta_corrects_the_plan_by_the_stages_run_so_far():
    now = [1000.0]
    clock = eta.Clock({"a": 100.0, "b": 200.0, "c": None, "d": 400.0}, now=lambda: now[0])
    # nothing run yet: the plan's own figures, the unestimated stage said
    assert clock.line(["a", "b", "c", "d"]) == (
        "overall: 0 s elapsed, 4 stage(s) to go, about 12 min left "
        "(the plan's estimate; 1 stage(s) not estimated)")
    now[0] += 150
    clock.ran("a", 150.0)          # took 1.5 times its estimate
    line = clock.line(["b", "c", "d"])
    assert "about 15 min left" in line and "x1.50" in line      # (200 + 400) * 1.5 s
    assert line.startswith("overall: 2 min elapsed")   # 150 s
    # control: a stage without an estimate teaches nothing
    clock.ran("c", 5000.0)
    assert clock.ratio() == 1.5
    # below MIN_MEASURED seconds of estimates the ratio is noise, not used
    small = eta.Clock({"a": 1.0, "b": 100.0})
    small.ran("a", 10.0)
    assert small.ratio() == 1.0


def test_run_all_says_the_eta_before_each_stage_it_runs(tmp_path):
    out = str(tmp_path / "out")
    stage_list = tiny_plan(out)
    said = []
    estimates = {s.name: 60.0 for s in stage_list}
    stages.run_all(out, stage_list, said.append, runner=lambda argv: 0, estimates=estimates)
    etas = [t for t in said if t.startswith("overall:")]
    assert len(etas) == len(stage_list)
    assert "%d stage(s) to go" % len(stage_list) in etas[0] and "1 stage(s) to go" in etas[-1]
    said.clear()     # all finished: a second call says no ETA, runs nothing
    stages.run_all(out, stage_list, said.append, runner=lambda argv: 0, estimates=estimates)
    assert not [t for t in said if t.startswith("overall:")]
