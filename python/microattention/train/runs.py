"""Running every fold of a protocol (the `run` command, train/run_command.py):
which folds are finished, the disk space the others need, a train-fold
process per fold, N at a time (their progress shown by train/watch.py), then
their predictions pooled."""
import collections
import os
import pathlib
import subprocess
import sys
import time

from microattention import files, metrics, paper
from microattention.errors import UserError
from microattention.train import disk, layout, options
from microattention.train.protocol_run import ProtocolRun
from microattention.train.settings import finished, fold_settings
from microattention.train.watch import Watch

POLL_SECONDS = 0.5


def _stamp():
    return time.strftime("%H:%M:%S")


def _say(text):
    print("[%s] %s" % (_stamp(), text), flush=True)


def fold_command(index, faces, protocol, fold, weights, net, run_dir, epochs, seed, gpu,
                 lmdb_dir=None, keep_snapshots=False, delete_lmdbs=False):
    argv = [sys.executable, "-m", "microattention", "train-fold", "--protocol", protocol,
            "--fold", fold, "--index", str(index), "--faces", str(faces),
            "--weights", str(weights), "--net", net, "--run-dir", str(run_dir),
            "--seed", str(seed)]
    if epochs is not None:
        argv += ["--epochs", str(epochs)]
    if gpu is not None:
        argv += ["--gpu", str(gpu)]
    if lmdb_dir is not None:
        argv += ["--lmdb-dir", str(lmdb_dir)]
    argv += ["--keep-snapshots"] * bool(keep_snapshots) + ["--delete-lmdbs"] * bool(delete_lmdbs)
    return argv


def run_protocol(index, faces, protocol, weights, net=None, run_dir=None, jobs=1, epochs=None,
                 seed=0, gpu=None, lmdb_dir=None, keep_snapshots=False, delete_lmdbs=False,
                 free_space=None):
    run_dir = pathlib.Path(run_dir or layout.default_run_dir()).resolve()
    lmdb_dir = pathlib.Path(lmdb_dir).resolve() if lmdb_dir else None
    index = options.input_file(index, "--index").resolve()
    weights = options.input_file(weights, "--weights").resolve()
    faces = pathlib.Path(faces).resolve()
    if not faces.is_dir():
        raise UserError("--faces %s: no such folder" % faces)
    run = ProtocolRun(protocol, index, net, run_dir, lmdb_dir)   # resolved once
    options.check_classes(weights, run.rows, index)
    metrics_path = run.out_dir() / layout.METRICS_NAME
    files.check_outputs([metrics_path], [index, weights], {metrics_path: "--run-dir"})
    todo, skipped = pending(run, faces, weights, seed, epochs)
    _say("%s with %s: %d fold(s), %d finished before, %d to train, %d at a time; %s"
         % (run.name, run.net, len(run.folds), len(skipped), len(todo), jobs, run.out_dir()))
    if todo:
        todo_folds = [f for f in run.folds if f["fold"] in todo]
        disk.check(disk.estimate(run.class_numbers(), run.protocol, todo_folds, [
            run.lmdb_home(f["fold"]) for f in todo_folds],
            run_dir, weights, jobs, keep_snapshots, delete_lmdbs), _say, free_space)

    def command(fold):
        return fold_command(index, faces, run.name, fold, weights, run.net, run_dir, epochs,
                            seed, gpu, lmdb_dir, keep_snapshots, delete_lmdbs)
    failed = run_folds(todo, run.fold_ids, command, run.fold_dir, jobs,
                       _thread_env(jobs, todo, gpu))
    if failed:
        raise UserError("%d of %d fold(s) failed: %s; fix the cause and run the same command "
                        "again (finished folds are kept)" % (
                            len(failed), len(run.folds), ", ".join(failed)))
    return pool(run_dir, run.name, run.net, run.fold_ids, metrics)


def pending(run, faces, weights, seed, epochs):
    """(fold ids of `run` to train, fold ids finished with these settings before)."""
    weights_sha = files.sha256(weights)
    todo, skipped = [], []
    for fold_id in run.fold_ids:
        settings = fold_settings(run.protocol, run.net, fold_id, run.index, faces, weights,
                                 seed, epochs, weights_sha)
        if finished(run.fold_dir(fold_id), settings) is not None:
            skipped.append(fold_id)
        else:
            todo.append(fold_id)
    return todo, skipped


def _thread_env(jobs, todo, gpu):
    """The folds' environment: on a CPU, cores/N OpenBLAS threads each unless set."""
    env = dict(os.environ)
    if "OPENBLAS_NUM_THREADS" not in env and gpu is None:
        env["OPENBLAS_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // min(jobs, max(
            1, len(todo)))))
    return env


def run_folds(todo, all_ids, command, fold_dir_of, jobs, env, watch=None):
    """Run the train-fold processes of `todo`, `jobs` at a time (command(fold):
    its argv), their progress shown by `watch` (a train.watch.Watch; default
    on stdout); {fold: exit code} of those that failed."""
    running = collections.OrderedDict()   # fold -> (process, start, log handle)
    failed = collections.OrderedDict()
    waiting = list(todo)
    number = {f: i + 1 for i, f in enumerate(all_ids)}
    watch = watch or Watch(len(todo), jobs)
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                fold = waiting.pop(0)
                fold_dir = fold_dir_of(fold)
                files.output_dir(fold_dir)
                watch.started(fold, fold_dir)
                log = open(str(fold_dir / layout.TRAIN_FOLD_LOG_NAME), "a")
                proc = subprocess.Popen(command(fold), stdout=log, stderr=subprocess.STDOUT,
                                        env=env)
                running[fold] = (proc, time.time(), log)
                watch.say("fold %s (%d/%d) started" % (fold, number[fold], len(all_ids)))
            time.sleep(POLL_SECONDS)
            watch.poll()
            for fold, (proc, start, log) in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                log.close()
                del running[fold]
                seconds = time.time() - start
                ok = _ended(fold, code, seconds, fold_dir_of(fold), failed, watch.say)
                watch.ended(fold, seconds, ok)
    except BaseException:
        _stop_all(running)
        raise
    finally:
        watch.close()
    return failed


def _ended(fold, code, seconds, fold_dir, failed, say):
    """Says how the fold ended; True when it finished."""
    done = files.read_json(fold_dir / layout.DONE_NAME) if code == 0 else None
    if done is None:
        failed[fold] = code
        say("fold %s FAILED (exit code %s) after %.0f s; see %s" % (
            fold, code, seconds, fold_dir / layout.TRAIN_FOLD_LOG_NAME))
        return False
    m = done["metrics"]
    say("fold %s finished in %.0f s: %d test samples, WAR %.4f, UAR %.4f"
        % (fold, seconds, m["samples"], m["war"], m["uar"]))
    return True


def _stop_all(running):
    for fold, (proc, _, log) in running.items():
        proc.terminate()
    for fold, (proc, _, log) in running.items():
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def pool(run_dir, protocol, net, fold_ids, metrics):
    """The run's predictions.csv, metrics.json and metrics.md from its folds
    (unchanged files are not rewritten)."""
    rows, classes = [], None
    for fold in fold_ids:
        path = layout.fold_dir_of(run_dir, protocol, net, fold) / layout.PREDICTIONS_NAME
        fold_rows, names = metrics.read_predictions(path)
        if classes is None:
            classes = names
        elif names != classes:
            raise UserError("%s names the classes %s, other folds %s"
                            % (path, ", ".join(names), ", ".join(classes)))
        for row in fold_rows:
            row.pop("_where", None)
        rows.extend(fold_rows)
    result = metrics.evaluate(rows, classes, per_fold=protocol != "pretrain")
    result["protocol"] = protocol
    result["net"] = net
    result["folds_pooled"] = list(fold_ids)
    # the protocol's folds as the folds recorded them: pooling a subset is PARTIAL
    all_folds = protocol_folds(run_dir, protocol, net, fold_ids)
    missing = [f for f in all_folds or [] if f not in fold_ids]
    result["folds_of_protocol"] = all_folds
    result["complete"] = all_folds is not None and not missing
    out_dir = layout.net_dir(run_dir, protocol, net)
    files.write_if_changed(out_dir / layout.PREDICTIONS_NAME,
                           metrics.predictions_csv(rows, classes))
    files.write_if_changed(out_dir / layout.METRICS_NAME, files.to_json(result))
    files.write_if_changed(out_dir / layout.METRICS_MD_NAME, metrics.metrics_markdown(result))
    pooled = result["pooled"]
    if not result["complete"]:
        _say("PARTIAL: %d of %s folds of the protocol pooled" % (
            len(fold_ids), len(all_folds) if all_folds is not None else "?"))
    if protocol == "pretrain":
        _say("pre-training validation accuracy %.2f %% on %d held-out images (paper: %.2f %%)"
             % (100 * pooled["war"], pooled["samples"], 100 * paper.PRETRAIN_VALIDATION_ACCURACY))
    else:
        _say("%s %s pooled over %d folds, %d samples: WAR %.4f, UAR %.4f, F1 (MEGC 2018) %.4f, "
             "UF1 (MEGC 2019) %.4f" % (protocol, net, len(fold_ids), pooled["samples"],
                                       pooled["war"], pooled["uar"], pooled["f1_megc2018"],
                                       pooled["uf1_megc2019"]))
    _say("wrote %s" % (out_dir / layout.METRICS_NAME))
    return 0


def protocol_folds(run_dir, protocol, net, fold_ids):
    """The protocol's fold ids as train-fold recorded them (provenance.json's
    protocol_folds), None when no fold recorded them; a UserError when folds
    of one pooling disagree (trained on different indexes)."""
    found, _ = recorded_protocol_folds(
        ((fold, files.read_json(layout.fold_dir_of(run_dir, protocol, net, fold)
                                / layout.PROVENANCE_NAME)) for fold in fold_ids),
        "%s/%s" % (protocol, net))
    return found


def recorded_protocol_folds(provenances, what):
    """(the protocol's fold ids, the first fold recording them) from (fold id,
    provenance.json content or None) pairs of the folds of `what`; (None,
    None) when no fold recorded them; a UserError when two folds record
    different lists (trained on different indexes)."""
    found = first = None
    for fold, prov in provenances:
        listed = (prov or {}).get("protocol_folds")
        if not listed:
            continue
        if found is not None and list(listed) != found:
            raise UserError("folds %s and %s of %s list different protocol folds (other "
                            "indexes?); pool the folds of one index" % (first, fold, what))
        if found is None:
            found, first = list(listed), fold
    return found, first
