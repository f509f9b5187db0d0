"""Training one fold, steps 1-5 of train-fold (see train/command.py): the
fold's folder under its lock, its LMDBs, net and solver, the epochs, the
test of the final snapshot and the records, done.json last."""
import collections
import contextlib
import pathlib
import time

from microattention import files, locks, metrics, protocols
from microattention.errors import UserError
from microattention.nets import prototxt as nets
from microattention.train import (evaluate, fold_lmdbs, layout, options, provenance, record,
                                  schedule)
from microattention.train.protocol_run import ProtocolRun
from microattention.train.settings import claim, finished, fold_settings

# What the schedule of a fold comes to, and the files rendered for it.
Plan = collections.namedtuple("Plan", "train_n test_n classes per_epoch epochs max_iter prefix "
                                      "solver_path net_path deploy_path")


@contextlib.contextmanager
def fold_lock(fold_dir):
    """One process per fold folder (two would interleave caffe's snapshots)."""
    with locks.FileLock(pathlib.Path(fold_dir) / ".lock", "fold %s" % fold_dir) as lock:
        if not lock.acquire(wait=False):
            raise UserError("%s is being trained by another process (its .lock is held)"
                            % fold_dir)
        yield


def train_fold(index, faces, protocol, fold, weights, net=None, run_dir=None, epochs=None,
               seed=0, gpu=None, log=None, weights_sha256=None, recalibrate_bn=False,
               lmdb_dir=None, keep_snapshots=False, delete_lmdbs=False):
    """Train and test one fold; returns done.json's content (with 'skipped'
    True when it had been finished already)."""
    log = log or (lambda text: print(text, flush=True))
    p = protocols.get(protocol)     # a name, or a protocols.variant
    net = net or p.net
    options.check_training(net, epochs, seed)
    # absolute: caffe runs in the fold's folder
    index = options.input_file(index, "--index").resolve()
    weights = options.input_file(weights, "--weights").resolve()
    faces = options.input_folder(faces, "--faces").resolve()
    run = ProtocolRun(p, index, net, run_dir, lmdb_dir)
    options.check_classes(weights, run.rows, index)
    fold_info = run.fold(fold)
    fold_id = fold_info["fold"]
    fold_dir = run.fold_dir(fold_id).resolve()
    done_path = fold_dir / layout.DONE_NAME
    files.check_outputs([done_path], [index, weights], {done_path: "--run-dir"})
    settings = fold_settings(p, net, fold_id, index, faces, weights, seed, epochs,
                             weights_sha256)
    if recalibrate_bn:   # only then, so that other runs keep their settings
        settings["bn_recalibration"] = "one epoch of training batches"
    done = _finished(fold_dir, settings)
    if done is not None:
        return done
    files.output_dir(fold_dir)
    with fold_lock(fold_dir):
        done = _finished(fold_dir, settings)  # another process may have finished it
        if done is not None:
            return done
        home = run.lmdb_home(fold_id).resolve()
        done = _train_locked((index, faces, weights), p, fold_info, fold_dir, settings, gpu,
                             log, home, run.fold_ids)
        if not keep_snapshots:
            schedule.clean_snapshots(layout.snapshot_prefix(fold_dir, net),
                                     done["final_snapshot"], log)
    if delete_lmdbs:
        fold_lmdbs.delete_fold_lmdbs(home, log)
    return done


def _finished(fold_dir, settings):
    done = finished(fold_dir, settings)
    if done is not None:
        done["skipped"] = True
    return done


def _train_locked(inputs, p, fold_info, fold_dir, settings, gpu, log, lmdb_dir,
                  protocol_folds):
    index, faces, _ = inputs
    claim(fold_dir, settings)
    started = time.time()
    # 1. the fold's LMDBs
    lists = fold_lmdbs.write_lists(fold_dir, fold_info)
    build = fold_lmdbs.builder(index, faces, p, lmdb_dir, lists, settings["seed"], log)
    built, lmdb_lock = fold_lmdbs.build_fold_lmdbs(lmdb_dir, build, log, fold_info["fold"])
    try:
        return _train_built(inputs, p, fold_dir, settings, gpu, log, lmdb_dir, built, started,
                            protocol_folds)
    finally:
        lmdb_lock.release()


def plan_fold(p, fold_dir, settings, lmdb_dir, built):
    """Step 2: the fold's schedule in epochs of its training set, its
    train_val.prototxt, solver.prototxt and deploy.prototxt."""
    net, seed = settings["net"], settings["seed"]
    train_n, test_n = built["train"]["count"], built["test"]["count"]
    classes = list(built["test"]["classes"])
    if list(built["train"]["classes"]) != classes:
        raise UserError("the training and test LMDBs of %s number different classes"
                        % settings["fold"])
    per_epoch = schedule.iterations_per_epoch(train_n, p.batch)
    epochs = settings["epochs"]
    max_iter = epochs * per_epoch
    prefix = layout.snapshot_prefix(fold_dir, net)
    fields = collections.OrderedDict([
        ("stepsize", p.step_epochs * per_epoch), ("max_iter", max_iter),
        ("test_interval", per_epoch), ("snapshot", per_epoch), ("random_seed", seed)])
    solver_path, net_path = schedule.render_fold_files(
        p, net, fold_dir, lmdb_dir / "train", lmdb_dir / "test", train_n, test_n,
        len(classes), prefix, fields)
    deploy_path = fold_dir / "deploy.prototxt"
    files.write_if_changed(deploy_path,
                           nets.to_text(nets.render_deploy(net, num_output=len(classes))))
    return Plan(train_n, test_n, classes, per_epoch, epochs, max_iter, prefix, solver_path,
                net_path, deploy_path)


def _train_built(inputs, p, fold_dir, settings, gpu, log, lmdb_dir, built, started,
                 protocol_folds):
    """Steps 2-5 of the module docstring, with the fold's LMDBs built."""
    weights = inputs[2]
    fold_id, net, seed = settings["fold"], settings["net"], settings["seed"]
    # traced before training: a damaged record stops the fold now, not after its epochs
    initial_weights = provenance.weights_origin(weights, settings["weights_sha256"])
    plan = plan_fold(p, fold_dir, settings, lmdb_dir, built)
    # 3. one caffe process per epoch
    progress = schedule.train_epochs(fold_dir, plan.prefix, plan.solver_path, weights, seed,
                                     plan.epochs, plan.per_epoch, gpu, fold_id, log)
    # 4. test the final snapshot (its BatchNorm statistics recomputed first
    # when asked: see recalibrate_bn)
    log_path = fold_dir / layout.CAFFE_LOG_NAME
    final_model = layout.snapshot_paths(plan.prefix, plan.max_iter)[0]
    if settings.get("bn_recalibration"):
        final_model = evaluate.recalibrated(plan.net_path, final_model, fold_dir,
                                            plan.per_epoch, seed * schedule.SEED_STRIDE, gpu,
                                            fold_id, log)
    rows, fold_metrics = evaluate.evaluate_fold(
        fold_id, p.name, net, plan.deploy_path, final_model, lmdb_dir / "test", built["test"],
        gpu, plan.max_iter, log_path)
    # 5. provenance, then done.json last
    # git commit, Caffe version, BLAS, image, host, device (one `caffe --version`)
    environment = provenance.environment(gpu)
    prov = record.provenance(p, settings, inputs, lmdb_dir, built, plan, final_model,
                             environment, protocol_folds, initial_weights, progress["epochs"])
    schedule.link_final(final_model, fold_dir / layout.FINAL_NAME)
    files.write_together({
        fold_dir / layout.PREDICTIONS_NAME: metrics.predictions_csv(rows, plan.classes),
        fold_dir / layout.METRICS_NAME: files.to_json(fold_metrics),
        fold_dir / layout.PROVENANCE_NAME: files.to_json(prov),
    })
    done = record.done(settings, fold_dir, fold_metrics, final_model,
                       prov["files_sha256"][final_model.name], started)
    files.write_json(fold_dir / layout.DONE_NAME, done)
    done["skipped"] = False
    return done
