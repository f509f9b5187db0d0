"""The training schedule of a fold: its solver in epochs of the fold's
training-set size, one caffe process per epoch (each with its own
random_seed, resumable from the last epoch's snapshot), and the snapshots:
pruned while training, cleaned once the fold is done, the final one linked
under layout.FINAL_NAME."""
import collections
import math
import os
import pathlib
import shutil
import time

from microattention import files
from microattention.errors import UserError
from microattention.nets import solver
from microattention.train import caffe, layout

SEED_STRIDE = 1000           # epoch k of seed s uses caffe random_seed s * 1000 + k
KEEP_SNAPSHOTS = 2


def iterations_per_epoch(records, batch):
    return int(math.ceil(records / float(batch)))


def render_fold_files(protocol, net, fold_dir, train_lmdb, test_lmdb, train_images,
                      test_images, num_output, prefix, fields):
    """The fold's train_val.prototxt and solver.prototxt (solver.render_fold:
    class count, the protocol's batch sizes, the LMDBs, the epoch schedule;
    `fields` put the schedule on this module's epoch boundaries)."""
    solver_path = pathlib.Path(fold_dir) / "solver.prototxt"
    net_path = pathlib.Path(fold_dir) / "train_val.prototxt"
    solver.render_fold(protocol, solver_path, net_path, train_images, test_images,
                       str(train_lmdb), str(test_lmdb), str(prefix), num_output=num_output,
                       net=net, **fields)
    return solver_path, net_path


def segment_solver(solver_path, out_path, end_iter, per_epoch, random_seed, gpu=None):
    """The fold's solver for one epoch: stop, test and snapshot at end_iter
    (test_interval = end_iter, so a resumed epoch does not test again at its
    first iteration), with the epoch's own random_seed."""
    from google.protobuf import text_format   # lazy: comes with caffe
    from caffe.proto import caffe_pb2         # lazy: caffe is only in the image
    param = caffe_pb2.SolverParameter()
    text_format.Merge(pathlib.Path(solver_path).read_text(), param)
    param.max_iter = end_iter
    param.test_interval = end_iter
    param.snapshot = end_iter
    param.random_seed = random_seed
    # at least one loss/lr line per epoch in the log
    param.display = max(1, min(param.display or per_epoch, per_epoch))
    param.solver_mode = caffe_pb2.SolverParameter.GPU if gpu is not None else \
        caffe_pb2.SolverParameter.CPU
    text = ("# one epoch of %s, written by microattention.training (see its docstring)\n"
            % pathlib.Path(solver_path).name) + text_format.MessageToString(param)
    files.atomic_write(out_path, text)
    return text


# ------------------------------------------------------------------ epochs

def resume_point(prefix, progress_path, per_epoch, fold_id, log):
    """(progress.json's content, the iteration to go on from): 0 when the
    recorded epoch's snapshot is gone; later snapshots are dropped."""
    progress = files.read_json(progress_path) or {"iteration": 0, "epochs": []}
    done_iter = int(progress["iteration"])
    if done_iter:
        model, state = layout.snapshot_paths(prefix, done_iter)
        if not (model.is_file() and state.is_file()) or done_iter % per_epoch:
            log("fold %s: the snapshot of iteration %d is gone; training from the start"
                % (fold_id, done_iter))
            progress, done_iter = {"iteration": 0, "epochs": []}, 0
    drop_snapshots_after(prefix, done_iter)
    return progress, done_iter


def _epoch_argv(segment_path, prefix, done_iter, weights, gpu):
    argv = [caffe.caffe_binary(), "train", "-solver", str(segment_path)]
    if done_iter:
        argv += ["-snapshot", str(layout.snapshot_paths(prefix, done_iter)[1])]
    else:
        argv += ["-weights", str(weights)]
    if gpu is not None:
        argv += ["-gpu", str(gpu)]
    return argv


def train_epochs(fold_dir, prefix, solver_path, weights, seed, epochs, per_epoch, gpu,
                 fold_id, log):
    """Step 3 of train-fold: one caffe process per epoch, from the last
    finished epoch on; returns progress.json's content."""
    log_path = pathlib.Path(fold_dir) / layout.CAFFE_LOG_NAME
    progress_path = pathlib.Path(fold_dir) / layout.PROGRESS_NAME
    progress, done_iter = resume_point(prefix, progress_path, per_epoch, fold_id, log)
    caffe.caffe_binary()
    segment_path = pathlib.Path(fold_dir) / layout.SEGMENT_SOLVER_NAME
    for epoch in range(done_iter // per_epoch + 1, epochs + 1):
        end = epoch * per_epoch
        segment_seed = seed * SEED_STRIDE + epoch
        segment_solver(solver_path, segment_path, end, per_epoch, segment_seed, gpu)
        argv = _epoch_argv(segment_path, prefix, done_iter, weights, gpu)
        log("fold %s: epoch %d/%d, iterations %d-%d, from %s" % (
            fold_id, epoch, epochs, done_iter + 1, end,
            "the snapshot of iteration %d" % done_iter if done_iter else weights))
        t0 = time.time()
        code = caffe.run_caffe(argv, log_path, "epoch %d/%d, iterations %d-%d, random_seed %d"
                               % (epoch, epochs, done_iter + 1, end, segment_seed),
                               full_setup=epoch == 1)
        model, state = layout.snapshot_paths(prefix, end)
        if code != 0 or not (model.is_file() and state.is_file()):
            raise UserError("caffe train failed in epoch %d of fold %s (exit code %s); the end "
                            "of %s:\n%s" % (epoch, fold_id, code, log_path,
                                            caffe.log_tail(log_path)))
        progress["iteration"] = done_iter = end
        progress["epochs"].append(collections.OrderedDict([
            ("epoch", epoch), ("iteration", end), ("random_seed", segment_seed),
            ("seconds", round(time.time() - t0, 3)), ("finished", caffe.now())]))
        files.write_json(progress_path, progress)
        prune(prefix)
    return progress


# ------------------------------------------------------------------ snapshots

def prune(prefix, keep=KEEP_SNAPSHOTS):
    return solver.prune_snapshots(str(prefix), keep=keep)


def drop_snapshots_after(prefix, iteration):
    """Snapshots beyond the last recorded epoch (an epoch killed while caffe
    wrote them) are not trusted."""
    for i, pair in solver.snapshots(str(prefix)).items():
        if i > iteration:
            for path in pair.values():
                os.unlink(path)


def clean_snapshots(prefix, final_snapshot, log):
    """After done.json: the solverstates and every snapshot but the final
    weights go (they only served resuming); returns the bytes freed."""
    freed = 0
    for _, pair in sorted(solver.snapshots(str(prefix)).items()):
        for path in pair.values():
            if os.path.basename(path) != final_snapshot:
                freed += os.path.getsize(path)
                os.unlink(path)
    if freed:
        log("removed the solverstates and non-final snapshots of %s: %.1f MB "
            "(--keep-snapshots keeps them)" % (pathlib.Path(prefix).parent, freed / 1e6))
    return freed


def link_final(snapshot, path):
    """FOLD/final.caffemodel: the tested weights under a name the next stage
    of the transfer chain can use (a hard link; a copy where links fail)."""
    path = pathlib.Path(path)
    tmp = path.with_name("." + path.name + ".%d" % os.getpid())
    try:
        os.link(str(snapshot), str(tmp))
    except OSError:
        shutil.copyfile(str(snapshot), str(tmp))
    os.replace(str(tmp), str(path))
