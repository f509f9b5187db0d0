"""Run every fold of a protocol, N at a time, then pool their predictions.

  run --protocol hde|cde|loso|pretrain --index INDEX.csv --faces DIR --weights W [--jobs N]

Each fold is a `train-fold` process (its output goes to the fold's
train-fold.log); a line is printed when a fold starts, finishes or fails.
Finished folds (done.json with the same settings) are skipped, and an
unfinished one resumes from its last snapshot, so running the same command
again after a failure or a kill continues where it stopped. When every fold
is finished, RUN_DIR/<protocol>/<net>/ gets predictions.csv (all folds, in
metrics.py's format), metrics.json (pooled and per fold: WAR, UAR, F1 (MEGC
2018), UF1 (MEGC 2019)) and metrics.md. `--protocol pretrain` trains
ResNet-10 on the pooled macro-expression index with 1/10 held out and
reports the validation accuracy next to the paper's (4.1).

With N jobs on a CPU, each caffe gets cores/N OpenBLAS threads unless
OPENBLAS_NUM_THREADS is set.

Before the first fold starts, the disk space the run adds (LMDBs not built
yet, final weights, snapshots of the running folds; microattention/disk.py)
is printed, and the run is refused when a filesystem it writes to has less
free space.
"""
import argparse
import collections
import os
import pathlib
import subprocess
import sys
import time

from microattention import files, paper, protocols
from microattention.train import training
from microattention.errors import UserError

POLL_SECONDS = 0.5

EXAMPLES = """\
examples:
  python3 -m microattention run --protocol loso --index casme2.csv --faces faces/casme2 \\
      --weights weights/micro_attention_macro.caffemodel --jobs 2
  python3 -m microattention run --protocol pretrain --index macro.csv --faces faces/macro \\
      --weights weights/resnet10_imagenet_gray.caffemodel
"""


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    training.add_common_arguments(parser, fold=False)
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="folds trained at the same time (default 1)")


def run(args):
    if args.jobs < 1:
        raise UserError("--jobs %d: must be at least 1" % args.jobs)
    with files.terminate_as_interrupt():
        try:
            return run_protocol(args.index, args.faces, args.protocol, args.weights,
                                net=args.net, run_dir=args.run_dir, jobs=args.jobs,
                                epochs=args.epochs, seed=args.seed, gpu=args.gpu,
                                lmdb_dir=args.lmdb_dir, keep_snapshots=args.keep_snapshots,
                                delete_lmdbs=args.delete_lmdbs)
        except KeyboardInterrupt:
            sys.stderr.write("microattention run: interrupted; run the same command again to "
                             "continue (finished folds are kept)\n")
            return 130


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
    from microattention import metrics
    p = protocols.get(protocol)
    net = net or p.net
    run_dir = pathlib.Path(run_dir or training.default_run_dir()).resolve()
    lmdb_dir = pathlib.Path(lmdb_dir).resolve() if lmdb_dir else None
    index = training._input_file(index, "--index").resolve()
    weights = training._input_file(weights, "--weights").resolve()
    faces = pathlib.Path(faces).resolve()
    if not faces.is_dir():
        raise UserError("--faces %s: no such folder" % faces)
    folds = training.fold_list(index, protocol)
    weights_sha = files.sha256(weights)
    out_dir = run_dir / protocol / net
    files.check_outputs([out_dir / "metrics.json"], [index, weights],
                        {out_dir / "metrics.json": "--run-dir"})

    todo, skipped = [], []
    for fold in folds:
        fold_dir = training.fold_dir_of(run_dir, protocol, net, fold["fold"])
        settings = training.fold_settings(protocol, net, fold["fold"], index, faces, weights,
                                          seed, epochs, weights_sha)
        if training.finished(fold_dir, settings) is not None:
            skipped.append(fold["fold"])
        else:
            todo.append(fold["fold"])
    _say("%s with %s: %d fold(s), %d finished before, %d to train, %d at a time; %s"
         % (protocol, net, len(folds), len(skipped), len(todo), jobs, out_dir))
    if todo:
        from microattention.train import disk
        todo_folds = [f for f in folds if f["fold"] in todo]
        disk.check(disk.estimate(index, protocol, todo_folds, [
            training.lmdb_home(run_dir, p.name, f["fold"], lmdb_dir) for f in todo_folds],
            run_dir, weights, jobs, keep_snapshots, delete_lmdbs), _say, free_space)

    env = dict(os.environ)
    if "OPENBLAS_NUM_THREADS" not in env and gpu is None:
        env["OPENBLAS_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // min(jobs, max(
            1, len(todo)))))
    running = collections.OrderedDict()   # fold -> (process, start, log handle)
    failed = collections.OrderedDict()
    waiting = list(todo)
    number = {f: i + 1 for i, f in enumerate(f["fold"] for f in folds)}
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                fold = waiting.pop(0)
                fold_dir = training.fold_dir_of(run_dir, protocol, net, fold)
                files.output_dir(fold_dir)
                log = open(str(fold_dir / "train-fold.log"), "a")
                argv = fold_command(index, faces, protocol, fold, weights, net, run_dir, epochs,
                                    seed, gpu, lmdb_dir, keep_snapshots, delete_lmdbs)
                proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
                running[fold] = (proc, time.time(), log)
                _say("fold %s (%d/%d) started" % (fold, number[fold], len(folds)))
            time.sleep(POLL_SECONDS)
            for fold, (proc, start, log) in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                log.close()
                del running[fold]
                seconds = time.time() - start
                fold_dir = training.fold_dir_of(run_dir, protocol, net, fold)
                done = training.read_json(fold_dir / "done.json") if code == 0 else None
                if done is None:
                    failed[fold] = code
                    _say("fold %s FAILED (exit code %s) after %.0f s; see %s" % (
                        fold, code, seconds, fold_dir / "train-fold.log"))
                else:
                    m = done["metrics"]
                    _say("fold %s finished in %.0f s: %d test samples, WAR %.4f, UAR %.4f"
                         % (fold, seconds, m["samples"], m["war"], m["uar"]))
    except BaseException:
        for fold, (proc, _, log) in running.items():
            proc.terminate()
        for fold, (proc, _, log) in running.items():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
        raise
    if failed:
        raise UserError("%d of %d fold(s) failed: %s; fix the cause and run the same command "
                        "again (finished folds are kept)" % (
                            len(failed), len(folds), ", ".join(failed)))
    return pool(run_dir, protocol, net, [f["fold"] for f in folds], metrics)


def pool(run_dir, protocol, net, fold_ids, metrics):
    """The run's predictions.csv, metrics.json and metrics.md from its folds
    (unchanged files are not rewritten)."""
    rows, classes = [], None
    for fold in fold_ids:
        path = training.fold_dir_of(run_dir, protocol, net, fold) / "predictions.csv"
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
    out_dir = pathlib.Path(run_dir) / protocol / net
    files.write_if_changed(out_dir / "predictions.csv", metrics.predictions_csv(rows, classes))
    files.write_if_changed(out_dir / "metrics.json", training.to_json(result))
    files.write_if_changed(out_dir / "metrics.md", metrics.metrics_markdown(result))
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
    _say("wrote %s" % (out_dir / "metrics.json"))
    return 0


def protocol_folds(run_dir, protocol, net, fold_ids):
    """The protocol's fold ids as train-fold recorded them (provenance.json's
    protocol_folds), None when no fold recorded them; a UserError when folds
    of one pooling disagree (trained on different indexes)."""
    found, _ = recorded_protocol_folds(
        ((fold, training.read_json(training.fold_dir_of(run_dir, protocol, net, fold)
                                   / "provenance.json")) for fold in fold_ids),
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
