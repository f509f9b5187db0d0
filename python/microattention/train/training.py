"""Train one fold of a protocol with Caffe and test its final snapshot.

  train-fold --protocol P --fold FOLD --index INDEX.csv --faces DIR --weights INIT.caffemodel

Steps, all in RUN_DIR/<protocol>/<net>/<fold>/ (RUN_DIR default: the
project's workspace/runs, /workspace/runs in the image):

 1. The fold's samples (folds.make_folds; pre-training: the whole index, of
    which the lmdb stage holds 1/10 out) go to train.txt / test.txt, and
    lmdbs.build writes train (balanced and augmented as the protocol says)
    and test (plain) into the fold's LMDB folder, RUN_DIR/<protocol>/lmdb/<fold>/
    (or --lmdb-dir DIR: DIR/<protocol>/<fold>/, e.g. node-local scratch). The
    three nets share it: built once under its lock, reused (same bytes) by the
    others, read under a shared lock, rebuilt only when no net reads it, and
    deleted after the fold with --delete-lmdbs.
 2. The fold's train_val.prototxt (class count, the protocol's batch, the two
    LMDBs) and solver.prototxt (the protocol's schedule, in epochs of this
    fold's training-set size) are rendered, and deploy.prototxt.
 3. The stock `caffe train` runs one epoch per process: epoch k runs
    `caffe train -solver solver_segment.prototxt -snapshot <epoch k-1>.solverstate`
    (epoch 1: `-weights INIT`) up to iteration k x L, L = ceil(records/batch),
    and snapshots there. Caffe restores the iteration, the learning rate and
    the momentum from a solverstate, but its Data layer starts again at the
    first record and its crop generator restarts from `random_seed`. Running
    every epoch as its own process makes that the rule rather than an
    accident: every epoch reads the LMDB from its first record, and epoch k
    draws its crops from random_seed = seed * 1000 + k. So a run killed at any
    point and resumed from its last snapshot does exactly what an
    uninterrupted run does (the same weights and predictions, bit for bit,
    at the same OpenBLAS thread count), and
    the learning rate steps (every step_epochs x L iterations) fall on epoch
    boundaries. Caffe's output goes to caffe.log (appended across epochs and
    resumptions); old snapshots are pruned (the last 2 are kept) and, once
    done.json is written, the solverstates and every snapshot but the final
    weights are removed (--keep-snapshots keeps them).
 4. The FINAL snapshot is tested through pycaffe on deploy.prototxt, one test
    record at a time (224x224 records as the test Data layer gives them; a
    larger record is centre-cropped to 224 as Caffe's TEST transform would).
    No epoch is ever chosen on the test side. predictions.csv is in the
    format of microattention.metrics; metrics.json holds WAR, UAR, F1 and UF1
    and the accuracy caffe's own test net logged at the last iteration.
 5. provenance.json records the inputs and their sha256 (index, faces.csv,
    initial weights, LMDB sidecars, rendered net and solver files, final
    snapshot), the seed, the schedule, the protocol's folds of the index, where
    the initial weights came from (microattention.provenance), and where it
    ran: caffe version, git commit, BLAS kernel, image, host and device; final.caffemodel
    is the tested snapshot under a fixed name (the input of the next stage of
    docs/transfer-chain.md); done.json is written last. A fold with done.json is not trained again; a fold whose
    folder holds another configuration (other weights, seed, epochs, index,
    faces, protocol changes or BatchNorm recalibration: every key of either
    side) is refused rather than skipped into or resumed.
"""
import argparse
import collections
import contextlib
import datetime
import json
import math
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

from microattention import files, locks, protocols
from microattention.nets import prototxt as nets
from microattention.train import provenance as provenance_module
from microattention.errors import UserError

FORMAT = "microattention-train-fold/1"
PRETRAIN_FOLD = "pretrain"
SEED_STRIDE = 1000           # epoch k of seed s uses caffe random_seed s * 1000 + k
KEEP_SNAPSHOTS = 2
FINAL_NAME = "final.caffemodel"   # the tested snapshot, linked for the next stage
RECALIBRATED_NAME = "final_bn_recalibrated.caffemodel"
TEST_CROP = 224              # the nets' input
FOLD_FILES = ("train.txt", "test.txt", "train_val.prototxt", "solver.prototxt",
              "deploy.prototxt", "caffe.log", "predictions.csv", "metrics.json",
              "provenance.json", "done.json")
EXAMPLES = """\
examples:
  python3 -m microattention train-fold --protocol loso --fold sub01 \\
      --index casme2.csv --faces faces/casme2 --weights weights/micro_attention_macro.caffemodel
  tools/train_fold.sh loso sub01 --index casme2.csv --faces faces/casme2 \\
      --weights weights/micro_attention_macro.caffemodel
"""


def default_run_dir():
    """workspace/runs of the project (/workspace/runs in the image)."""
    return files.project_root() / "workspace" / "runs"


def add_common_arguments(parser, fold=True):
    parser.add_argument("--protocol", required=True, metavar="P",
                        help="one of %s" % ", ".join(protocols.NAMES))
    if fold:
        parser.add_argument("--fold", required=True, metavar="FOLD_ID",
                            help="fold id as the folds command prints it (casme2-to-samm, "
                                 "casme2_sub01, ...) or, for cde/loso, the subject alone "
                                 "(sub01) when it names one fold; 'pretrain' for pretrain")
    parser.add_argument("--index", required=True, metavar="INDEX.csv",
                        help="index CSV (the index command)")
    parser.add_argument("--faces", required=True, metavar="DIR",
                        help="folder written by the faces command (DIR/faces.csv)")
    parser.add_argument("--weights", required=True, metavar="INIT.caffemodel",
                        help="initial weights (caffe train -weights); see docs/transfer-chain.md")
    parser.add_argument("--net", choices=nets.NETS, default=None,
                        help="the net to train (default: the protocol's, %s)" % ", ".join(
                            "%s: %s" % (p.name, p.net) for p in protocols.PROTOCOLS.values()))
    parser.add_argument("--run-dir", metavar="DIR", default=None,
                        help="where runs go: DIR/<protocol>/<net>/<fold>/ (default %s)"
                             % default_run_dir())
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="training epochs (default: the protocol's total_epochs); "
                             "for quick checks")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="seed of the LMDB (resampling, augmentation, order) and of "
                             "caffe's random_seed (default 0)")
    parser.add_argument("--gpu", type=int, default=None, metavar="ID",
                        help="train and test on this GPU (a CUDA Caffe build); default CPU")
    parser.add_argument("--lmdb-dir", metavar="DIR", default=None,
                        help="where the LMDBs are built and read: DIR/<protocol>/<fold>/ "
                             "(default RUN_DIR/<protocol>/lmdb/<fold>/, shared by the nets); "
                             "node-local scratch on a cluster (only results go to --run-dir)")
    parser.add_argument("--keep-snapshots", action="store_true",
                        help="keep every snapshot and solverstate of a finished fold (by "
                             "default only the final .caffemodel stays)")
    parser.add_argument("--delete-lmdbs", action="store_true",
                        help="delete a fold's LMDBs when the fold is done (unless another "
                             "net is reading them); they are rebuilt, same bytes, when needed")


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    add_common_arguments(parser)


def run(args):
    with files.terminate_as_interrupt():
        try:
            result = train_fold(args.index, args.faces, args.protocol, args.fold, args.weights,
                                net=args.net, run_dir=args.run_dir, epochs=args.epochs,
                                seed=args.seed, gpu=args.gpu, lmdb_dir=args.lmdb_dir,
                                keep_snapshots=args.keep_snapshots,
                                delete_lmdbs=args.delete_lmdbs)
        except KeyboardInterrupt:
            sys.stderr.write("microattention train-fold: interrupted; run the same command "
                             "again to resume from the last snapshot\n")
            return 130
    print(summary_line(result))
    return 0


def summary_line(result):
    m = result.get("metrics") or {}
    what = ", ".join("%s %.4f" % (k.upper().split("_")[0], m[k])
                     for k in ("war", "uar", "f1_megc2018", "uf1_megc2019") if k in m)
    return "fold %s (%s, %s): %s%s; %s" % (
        result["fold"], result["protocol"], result["net"], what,
        " (already finished)" if result.get("skipped") else "", result["fold_dir"])


# ------------------------------------------------------------------ small helpers





def to_json(document):
    return json.dumps(document, indent=1, sort_keys=False) + "\n"


def read_json(path, advice="remove it to start that fold again"):
    """A JSON file's content, None when it does not exist; a UserError naming
    it (and what to do: `advice`) when it cannot be read."""
    try:
        return json.loads(pathlib.Path(path).read_text(encoding="utf-8"),
                          object_pairs_hook=collections.OrderedDict)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UserError("%s is not readable JSON (%s); %s" % (path, exc, advice))


def now():
    return datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z"


def _input_file(path, option):
    if not path or not os.path.isfile(str(path)):
        raise UserError("%s %s: no such file" % (option, path))
    return pathlib.Path(path)


def caffe_binary():
    found = shutil.which(os.environ.get("MA_CAFFE", "caffe"))
    if not found:
        raise UserError("the caffe tool is not on PATH; run inside the image "
                        "(docker run ... localhost/micro-attention train_fold.sh ...)")
    return found


def caffe_version():
    try:
        out = subprocess.run([caffe_binary(), "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
        return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ------------------------------------------------------------------ folds

def fold_list(index, protocol):
    """[{fold, train, test}] of a protocol: the folds command's split, or for
    pretrain one fold whose train side is the whole index (the lmdb stage holds
    out the validation tenth)."""
    from microattention.folds import split as folds
    protocols.get(protocol)
    rows = folds.read_index(str(index))
    if protocol == "pretrain":
        ids = list(rows)
        return [collections.OrderedDict([("fold", PRETRAIN_FOLD), ("train", ids),
                                         ("test", ids)])]
    result = folds.make_folds(rows, protocol, str(index))
    folds.check_folds(result, str(index))
    return result


def pick_fold(all_folds, wanted, protocol, index):
    ids = [f["fold"] for f in all_folds]
    for fold in all_folds:
        if fold["fold"] == wanted:
            return fold
    # cde/loso ids are <dataset>_<subject>: the subject alone names a fold when unique
    matches = [f for f in all_folds if f["fold"].endswith("_" + wanted)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UserError("--fold %s names %d folds of %s (%s); give the full fold id"
                        % (wanted, len(matches), index, ", ".join(f["fold"] for f in matches)))
    shown = ", ".join(ids[:12]) + (", ..." if len(ids) > 12 else "")
    raise UserError("--fold %s: no such fold of protocol %s in %s; its folds are %s"
                    % (wanted, protocol, index, shown))


def _check_fold_id(fold_id):
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$", fold_id):
        raise UserError("fold id %r cannot be a folder name" % fold_id)
    return fold_id


# ------------------------------------------------------------------ settings

def fold_settings(protocol, net, fold_id, index, faces, weights, seed, epochs,
                  weights_sha256=None):
    """What makes a fold's results what they are; a fold folder holding other
    settings is never resumed or skipped into."""
    faces_csv = pathlib.Path(faces) / "faces.csv"
    if not faces_csv.is_file():
        raise UserError("--faces %s: no faces.csv there (write it with the faces command)"
                        % faces)
    p = protocols.get(protocol)
    settings = collections.OrderedDict([
        ("format", FORMAT),
        ("protocol", p.name),
        ("net", net),
        ("fold", fold_id),
        ("seed", int(seed)),
        ("epochs", int(epochs or p.total_epochs)),
        ("index_sha256", files.sha256(index)),
        ("faces_csv_sha256", files.sha256(faces_csv)),
        ("weights_sha256", weights_sha256 or files.sha256(weights)),
    ])
    changed = protocols.changes(p)
    if changed:   # only then, so that the table's own runs keep their settings
        settings["protocol_changes"] = changed
    return settings


def setting_text(value):
    if value is None:
        return "not set"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def settings_differences(old, new, ignore=()):
    """["key old -> new"] over the keys of either side: a setting present on
    one side only (protocol_changes, bn_recalibration: written only when
    used) differs from its absence. The report's mixed-settings check uses
    the same keys."""
    keys = list(new) + [k for k in old if k not in new]
    return ["%s %s -> %s" % (k, setting_text(old.get(k)), setting_text(new.get(k)))
            for k in keys if k not in ignore and old.get(k) != new.get(k)]




def finished(fold_dir, settings):
    """done.json of a fold finished with these settings, None when not
    finished; a UserError when it was finished with others."""
    done = read_json(pathlib.Path(fold_dir) / "done.json")
    if done is None:
        return None
    diff = settings_differences(done.get("settings", {}), settings)
    if diff:
        raise UserError("%s was finished with other settings (%s); use another --run-dir or "
                        "remove that folder" % (fold_dir, "; ".join(diff)))
    return done


def fold_dir_of(run_dir, protocol, net, fold_id):
    return pathlib.Path(run_dir or default_run_dir()) / protocol / net / _check_fold_id(fold_id)


@contextlib.contextmanager
def fold_lock(fold_dir):
    """One process per fold folder (two would interleave caffe's snapshots)."""
    with locks.FileLock(pathlib.Path(fold_dir) / ".lock", "fold %s" % fold_dir) as lock:
        if not lock.acquire(wait=False):
            raise UserError("%s is being trained by another process (its .lock is held)"
                            % fold_dir)
        yield


def lmdb_home(run_dir, protocol, fold_id, lmdb_dir=None):
    """The fold's LMDBs, one set per protocol fold for every net:
    RUN_DIR/<protocol>/lmdb/<fold>/ or LMDB_DIR/<protocol>/<fold>/."""
    if lmdb_dir:
        return pathlib.Path(lmdb_dir) / protocol / _check_fold_id(fold_id)
    return pathlib.Path(run_dir or default_run_dir()) / protocol / "lmdb" / _check_fold_id(
        fold_id)


def build_fold_lmdbs(home, build, log, fold_id):
    """Both LMDBs of a fold under the fold's LMDB lock, left held shared
    (returned) while the caller reads them: nets reuse one build; a build
    with other settings replaces it only when no one reads it."""
    from microattention import lmdbs
    files.output_dir(home)
    lock = locks.FileLock(home / ".lock", "the LMDBs of fold %s" % fold_id)
    try:
        lock.acquire(exclusive=False)
        try:
            return build(False), lock
        except lmdbs.ReplaceRefused as exc:
            log("fold %s: %s; it is rebuilt when no other net reads it (waiting)"
                % (fold_id, exc))
        lock.acquire(exclusive=True)
        built = build(True)
        lock.acquire(exclusive=False)
        return built, lock
    except BaseException:
        lock.release()
        raise


def delete_fold_lmdbs(home, log):
    """--delete-lmdbs: the fold's LMDBs go once no other process reads them."""
    lock = locks.FileLock(home / ".lock", "the LMDBs in %s" % home)
    with lock:
        if not lock.acquire(exclusive=True, wait=False):
            log("kept the LMDBs in %s: another net is reading them" % home)
            return False
        for name in sorted(os.listdir(str(home))):
            if name == ".lock":
                continue
            path = home / name
            if path.is_dir():
                shutil.rmtree(str(path))
            else:
                path.unlink()
    log("deleted the LMDBs in %s (--delete-lmdbs)" % home)
    return True


def clean_snapshots(prefix, final_snapshot, log):
    """After done.json: the solverstates and every snapshot but the final
    weights go (they only served resuming); returns the bytes freed."""
    from microattention.nets.solver import snapshots
    freed = 0
    for _, pair in sorted(snapshots(str(prefix)).items()):
        for path in pair.values():
            if os.path.basename(path) != final_snapshot:
                freed += os.path.getsize(path)
                os.unlink(path)
    if freed:
        log("removed the solverstates and non-final snapshots of %s: %.1f MB "
            "(--keep-snapshots keeps them)" % (pathlib.Path(prefix).parent, freed / 1e6))
    return freed


# ------------------------------------------------------------------ rendering

def iterations_per_epoch(records, batch):
    return int(math.ceil(records / float(batch)))


def render_fold_files(protocol, net, fold_dir, train_lmdb, test_lmdb, train_images,
                      test_images, num_output, prefix, fields):
    """The fold's train_val.prototxt and solver.prototxt (solver.render_fold:
    class count, the protocol's batch sizes, the LMDBs, the epoch schedule;
    `fields` put the schedule on this module's epoch boundaries)."""
    from microattention.nets import solver
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
    from google.protobuf import text_format
    from caffe.proto import caffe_pb2
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


# ------------------------------------------------------------------ snapshots

def _snapshot_paths(prefix, iteration):
    base = "%s_iter_%d" % (prefix, iteration)
    return pathlib.Path(base + ".caffemodel"), pathlib.Path(base + ".solverstate")


def prune(prefix, keep=KEEP_SNAPSHOTS):
    from microattention.nets.solver import prune_snapshots
    return prune_snapshots(str(prefix), keep=keep)


def drop_snapshots_after(prefix, iteration):
    """Snapshots beyond the last recorded epoch (an epoch killed while caffe
    wrote them) are not trusted."""
    from microattention.nets.solver import snapshots
    for i, pair in snapshots(str(prefix)).items():
        if i > iteration:
            for path in pair.values():
                os.unlink(path)


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


# ------------------------------------------------------------------ caffe

def _die_with_parent():
    """Caffe must not outlive a killed train-fold (it would keep writing
    snapshots into a folder a resumed run uses)."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# Lines of a net's set-up (about 2000 per net) that repeat unchanged in every
# epoch's caffe process; kept for the first epoch only.
_SETUP_LINE = re.compile(r"\] (?:Creating Layer|Setting up|Top shape|Memory required|"
                         r".* (?:does not )?needs? backward computation|This network produces|"
                         r"Network initialization done|Initializing net from parameters|"
                         r"The NetState phase|Adding weight|Ignoring source layer|"
                         r"Copying source layer|Sharing parameters|.* -> )")
_GLOG_LINE = re.compile(r"^[IWEF]\d{4} ")


def run_caffe(argv, log_path, note, full_setup=True):
    """Run caffe with its output appended to log_path; returns the exit code.
    Without full_setup the per-layer set-up lines are left out of the log.
    Ctrl-C / SIGTERM stops caffe and re-raises."""
    env = dict(os.environ)
    env.setdefault("GLOG_logtostderr", "1")      # no glog files under /tmp
    env.pop("GLOG_minloglevel", None)            # the log must hold the iteration lines
    with open(str(log_path), "a", buffering=1) as log:   # line by line: users tail it
        log.write("# microattention train-fold %s: %s\n# %s\n" % (now(), note, " ".join(argv)))
        if not full_setup:
            log.write("# (the nets' set-up lines are in the log of the first epoch)\n")
        log.flush()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                cwd=str(pathlib.Path(log_path).parent),
                                preexec_fn=_die_with_parent, universal_newlines=True,
                                errors="replace")
        try:
            dropping = False
            for line in proc.stdout:
                if not full_setup:
                    if _GLOG_LINE.match(line):
                        dropping = bool(_SETUP_LINE.search(line))
                    if dropping:
                        continue
                log.write(line)
            return proc.wait()
        except BaseException:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.write("# microattention train-fold %s: stopped\n" % now())
            raise


def log_tail(path, lines=15):
    try:
        text = pathlib.Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("  " + l for l in text[-lines:])


# ------------------------------------------------------------------ testing

def predict(deploy_path, weights, test_lmdb, gpu=None):
    """[(key, label, scores)] of every record of the test LMDB, in key order,
    from the deploy net with `weights`."""
    import numpy as np
    from microattention import lmdbs
    caffe = nets.import_caffe()
    if gpu is not None:
        caffe.set_mode_gpu()
        caffe.set_device(int(gpu))
    net = caffe.Net(str(deploy_path), caffe.TEST, weights=str(weights))
    output = net.outputs[0]
    out = []
    for key, label, image in lmdbs.read_records(test_lmdb):
        if image.ndim != 2:
            raise UserError("%s record %s is not a gray image" % (test_lmdb, key))
        h, w = image.shape
        if h < TEST_CROP or w < TEST_CROP:
            raise UserError("%s record %s is %dx%d, smaller than the nets' %d input"
                            % (test_lmdb, key, h, w, TEST_CROP))
        # the centre crop of Caffe's TEST transform (offsets rounded down)
        top, left = (h - TEST_CROP) // 2, (w - TEST_CROP) // 2
        net.blobs["data"].data[0, 0] = image[top:top + TEST_CROP, left:left + TEST_CROP]
        scores = net.forward()[output][0].reshape(-1)
        out.append((key, int(label), np.array(scores, dtype=np.float32)))
    return out


def recalibrate_bn(net_path, weights, out_path, batches, seed, gpu=None):
    """Precise BatchNorm statistics (for short runs such as the demo's):
    Caffe's running mean and variance average every training batch since the
    start with weight 0.999^age, so after a few hundred iterations from
    fillers (or a few dozen after a transfer) they mix in activations of
    weights long gone, and TEST-phase outputs can collapse to one class. Here
    every BatchNorm's statistics are zeroed and gathered again by `batches`
    TRAIN-phase forward passes of the final weights (pycaffe; no update of any
    learned weight). Returns the written caffemodel (out_path)."""
    caffe = nets.import_caffe()
    if gpu is not None:
        caffe.set_mode_gpu()
        caffe.set_device(int(gpu))
    else:
        caffe.set_mode_cpu()
    caffe.set_random_seed(int(seed))          # the TRAIN transform's random crops
    net = caffe.Net(str(net_path), str(weights), caffe.TRAIN)
    layers = [name for name, layer in zip(net._layer_names, net.layers)
              if layer.type == "BatchNorm"]
    if not layers:
        raise UserError("%s has no BatchNorm layer to recalibrate" % net_path)
    for name in layers:
        for blob in net.params[name]:
            blob.data[...] = 0
    for _ in range(int(batches)):
        net.forward()
    out_path = pathlib.Path(out_path)
    tmp = out_path.with_name("." + out_path.name + ".%d" % os.getpid())
    net.save(str(tmp))
    os.replace(str(tmp), str(out_path))
    return out_path


def prediction_rows(fold_id, predictions, sidecar):
    """Rows in metrics.py's format, sample ids from the LMDB sidecar."""
    by_key = {r["key"]: r for r in sidecar["records"]}
    rows = []
    seen = set()
    for key, label, scores in predictions:
        record = by_key.get(key)
        if record is None or int(record["label"]) != label:
            raise UserError("test LMDB record %s does not match its sidecar" % key)
        if record["sample_id"] in seen:
            raise UserError("test LMDB holds sample %s twice" % record["sample_id"])
        seen.add(record["sample_id"])
        rows.append(collections.OrderedDict([
            ("fold", fold_id), ("sample_id", record["sample_id"]), ("true_label", label),
            ("predicted_label", int(scores.argmax())), ("scores", [float(s) for s in scores])]))
    return rows


def final_caffe_test(log_path, iteration):
    """Outputs of caffe's own test net at `iteration`, from the log."""
    from microattention.train import caffelog
    try:
        rows = caffelog.parse_log(pathlib.Path(log_path).read_text(errors="replace"))
    except OSError:
        return {}
    for row in rows:
        if row["iteration"] == iteration:
            return collections.OrderedDict((k[len("test_"):], v) for k, v in row.items()
                                           if k.startswith("test_"))
    return {}


# ------------------------------------------------------------------ the fold

def train_fold(index, faces, protocol, fold, weights, net=None, run_dir=None, epochs=None,
               seed=0, gpu=None, log=None, weights_sha256=None, recalibrate_bn=False,
               lmdb_dir=None, keep_snapshots=False, delete_lmdbs=False):
    """Train and test one fold; returns done.json's content (with 'skipped'
    True when it had been finished already)."""
    from microattention import lmdbs, metrics
    log = log or (lambda text: print(text, flush=True))
    p = protocols.get(protocol)     # a name, or a protocols.variant
    protocol = p.name
    net = net or p.net
    if net not in nets.NETS:
        raise UserError("--net %s: expected one of %s" % (net, ", ".join(nets.NETS)))
    if epochs is not None and epochs < 1:
        raise UserError("--epochs %d: must be at least 1" % epochs)
    if seed < 0 or seed >= 2 ** 31 // SEED_STRIDE:
        raise UserError("--seed %d: must lie in 0..%d" % (seed, 2 ** 31 // SEED_STRIDE - 1))
    # absolute: caffe runs in the fold's folder
    index = _input_file(index, "--index").resolve()
    weights = _input_file(weights, "--weights").resolve()
    if not os.path.isdir(str(faces)):
        raise UserError("--faces %s: no such folder" % faces)
    faces = pathlib.Path(faces).resolve()
    all_folds = fold_list(index, protocol)
    fold_info = pick_fold(all_folds, fold, protocol, index)
    fold_id = fold_info["fold"]
    fold_dir = fold_dir_of(run_dir, protocol, net, fold_id).resolve()
    files.check_outputs([fold_dir / "done.json"], [index, weights],
                        {fold_dir / "done.json": "--run-dir"})
    settings = fold_settings(p, net, fold_id, index, faces, weights, seed, epochs,
                             weights_sha256)
    if recalibrate_bn:   # only then, so that other runs keep their settings
        settings["bn_recalibration"] = "one epoch of training batches"
    done = finished(fold_dir, settings)
    if done is not None:
        done["skipped"] = True
        return done
    files.output_dir(fold_dir)
    with fold_lock(fold_dir):
        done = finished(fold_dir, settings)  # another process may have finished it
        if done is not None:
            done["skipped"] = True
            return done
        home = lmdb_home(run_dir, protocol, fold_id, lmdb_dir).resolve()
        done = _train_locked(index, faces, p, net, fold_info, weights, fold_dir, settings,
                             gpu, log, lmdbs, metrics, home,
                             [f["fold"] for f in all_folds])
        if not keep_snapshots:
            clean_snapshots(fold_dir / "snapshots" / net, done["final_snapshot"], log)
    if delete_lmdbs:
        delete_fold_lmdbs(home, log)
    return done


def _train_locked(index, faces, p, net, fold_info, weights, fold_dir, settings, gpu, log,
                  lmdbs, metrics, lmdb_dir, protocol_folds):
    protocol, fold_id, seed = p.name, fold_info["fold"], settings["seed"]
    old = read_json(fold_dir / "settings.json")
    changed = settings_differences(old, settings) if old is not None else []
    if changed:
        raise UserError("%s holds an unfinished run with other settings (%s); use another "
                        "--run-dir or remove that folder" % (fold_dir, "; ".join(changed)))
    files.write_if_changed(fold_dir / "settings.json", to_json(settings))
    started = time.time()

    # 1. the fold's LMDBs
    lists = {}
    for side in ("train", "test"):
        lists[side] = fold_dir / ("%s.txt" % side)
        files.write_if_changed(lists[side], "".join(s + "\n" for s in fold_info[side]))
    test_split = "val" if protocol == "pretrain" else "test"
    samples = (lambda side: None) if protocol == "pretrain" else (lambda side: lists[side])

    def build(replace):
        return {side: lmdbs.build(str(index), str(faces), str(lmdb_dir / side), p, split=split,
                                  samples=samples(side) and str(samples(side)), seed=seed,
                                  progress=False, log=log, replace=replace)
                for side, split in (("train", "train"), ("test", test_split))}
    built, lmdb_lock = build_fold_lmdbs(lmdb_dir, build, log, fold_id)
    try:
        return _train_built(index, faces, p, net, fold_info, weights, fold_dir, settings, gpu,
                            log, metrics, lmdb_dir, built, started, protocol_folds)
    finally:
        lmdb_lock.release()


def _train_built(index, faces, p, net, fold_info, weights, fold_dir, settings, gpu, log,
                 metrics, lmdb_dir, built, started, protocol_folds):
    """Steps 2-5 of the module docstring, with the fold's LMDBs built."""
    protocol, fold_id, seed = p.name, fold_info["fold"], settings["seed"]
    # traced before training: a damaged record stops the fold now, not after its epochs
    initial_weights = provenance_module.weights_origin(weights, settings["weights_sha256"])
    train_n, test_n = built["train"]["count"], built["test"]["count"]
    classes = list(built["test"]["classes"])
    if list(built["train"]["classes"]) != classes:
        raise UserError("the training and test LMDBs of %s number different classes" % fold_id)

    # 2. net and solver
    per_epoch = iterations_per_epoch(train_n, p.batch)
    epochs = settings["epochs"]
    max_iter = epochs * per_epoch
    prefix = fold_dir / "snapshots" / net
    fields = collections.OrderedDict([
        ("stepsize", p.step_epochs * per_epoch), ("max_iter", max_iter),
        ("test_interval", per_epoch), ("snapshot", per_epoch), ("random_seed", seed)])
    solver_path, net_path = render_fold_files(
        p, net, fold_dir, lmdb_dir / "train", lmdb_dir / "test", train_n, test_n,
        len(classes), prefix, fields)
    deploy_path = fold_dir / "deploy.prototxt"
    files.write_if_changed(deploy_path, nets.to_text(nets.render_deploy(net, num_output=len(classes))))

    # 3. one caffe process per epoch
    log_path = fold_dir / "caffe.log"
    progress_path = fold_dir / "progress.json"
    progress = read_json(progress_path) or {"iteration": 0, "epochs": []}
    done_iter = int(progress["iteration"])
    if done_iter:
        model, state = _snapshot_paths(prefix, done_iter)
        if not (model.is_file() and state.is_file()) or done_iter % per_epoch:
            log("fold %s: the snapshot of iteration %d is gone; training from the start"
                % (fold_id, done_iter))
            progress, done_iter = {"iteration": 0, "epochs": []}, 0
    drop_snapshots_after(prefix, done_iter)
    caffe = caffe_binary()
    segment_path = fold_dir / "solver_segment.prototxt"
    for epoch in range(done_iter // per_epoch + 1, epochs + 1):
        end = epoch * per_epoch
        segment_seed = seed * SEED_STRIDE + epoch
        segment_solver(solver_path, segment_path, end, per_epoch, segment_seed, gpu)
        argv = [caffe, "train", "-solver", str(segment_path)]
        if done_iter:
            argv += ["-snapshot", str(_snapshot_paths(prefix, done_iter)[1])]
        else:
            argv += ["-weights", str(weights)]
        if gpu is not None:
            argv += ["-gpu", str(gpu)]
        log("fold %s: epoch %d/%d, iterations %d-%d, from %s" % (
            fold_id, epoch, epochs, done_iter + 1, end,
            "the snapshot of iteration %d" % done_iter if done_iter else weights))
        t0 = time.time()
        code = run_caffe(argv, log_path, "epoch %d/%d, iterations %d-%d, random_seed %d"
                         % (epoch, epochs, done_iter + 1, end, segment_seed),
                         full_setup=epoch == 1)
        model, state = _snapshot_paths(prefix, end)
        if code != 0 or not (model.is_file() and state.is_file()):
            raise UserError("caffe train failed in epoch %d of fold %s (exit code %s); the end "
                            "of %s:\n%s" % (epoch, fold_id, code, log_path, log_tail(log_path)))
        progress["iteration"] = done_iter = end
        progress["epochs"].append(collections.OrderedDict([
            ("epoch", epoch), ("iteration", end), ("random_seed", segment_seed),
            ("seconds", round(time.time() - t0, 3)), ("finished", now())]))
        files.atomic_write(progress_path, to_json(progress))
        prune(prefix)

    # 4. test the final snapshot (its BatchNorm statistics recomputed first
    # when asked: see recalibrate_bn)
    final_model = _snapshot_paths(prefix, max_iter)[0]
    if settings.get("bn_recalibration"):
        log("fold %s: BatchNorm statistics recomputed over %d training batches"
            % (fold_id, per_epoch))
        final_model = recalibrate_bn(net_path, final_model, fold_dir / RECALIBRATED_NAME,
                                     per_epoch, seed * SEED_STRIDE, gpu)
    predictions = predict(deploy_path, final_model, lmdb_dir / "test", gpu)
    rows = prediction_rows(fold_id, predictions, built["test"])
    if len(rows) != test_n:
        raise UserError("fold %s: %d predictions for %d test records" % (fold_id, len(rows),
                                                                        test_n))
    result = metrics.evaluate(rows, classes)
    fold_metrics = collections.OrderedDict([("fold", fold_id), ("protocol", protocol),
                                            ("net", net), ("classes", classes)])
    fold_metrics.update(result["pooled"])
    fold_metrics["caffe_test_net_final"] = final_caffe_test(log_path, max_iter)
    fold_metrics["tested_snapshot"] = final_model.name

    # 5. provenance, then done.json last
    # git commit, Caffe version, BLAS, image, host, device (one `caffe --version`)
    environment = provenance_module.environment(gpu)

    def side(name):
        sidecar = pathlib.Path(str(lmdb_dir / name) + ".json")
        return collections.OrderedDict([
            ("path", str(lmdb_dir / name)), ("family", built[name]["family"]),
            ("sidecar_sha256", files.sha256(sidecar)),
            ("fingerprint", built[name]["fingerprint"]), ("records", built[name]["count"]),
            ("class_counts_records", built[name]["class_counts_records"])])
    provenance = collections.OrderedDict([
        ("format", FORMAT), ("settings", settings),
        ("inputs", collections.OrderedDict([
            ("index", str(index.resolve())), ("faces", str(pathlib.Path(faces).resolve())),
            ("weights", str(weights.resolve()))])),
        ("protocol_table", collections.OrderedDict(
            (k, v._asdict() if hasattr(v, "_asdict") else v) for k, v in p._asdict().items())),
        ("project_choices", collections.OrderedDict(
            (field, why) for (name, field), why in protocols.CHOICES.items()
            if name == protocol)),
        ("lmdb", collections.OrderedDict([("train", side("train")), ("test", side("test"))])),
        ("schedule", collections.OrderedDict([
            ("training_records", train_n), ("test_records", test_n), ("batch", p.batch),
            ("test_batch", p.test_batch), ("iterations_per_epoch", per_epoch),
            ("epochs", epochs), ("max_iter", max_iter),
            ("stepsize", p.step_epochs * per_epoch),
            ("caffe_random_seed", "seed * %d + epoch" % SEED_STRIDE),
            ("one_caffe_process_per_epoch", True)])),
        ("files_sha256", collections.OrderedDict(
            (path.name, files.sha256(path)) for path in (net_path, solver_path, deploy_path,
                                                        final_model))),
        ("caffe_version", environment["caffe_version"]),
        # the report's fold count: the protocol's folds of this index, whatever is pooled
        ("protocol_folds", protocol_folds),
        ("initial_weights", initial_weights),
        # the BLAS thread count and kernel change the last bits of the results
        ("environment", collections.OrderedDict(
            (k, os.environ.get(k)) for k in ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
                                             "OMP_NUM_THREADS", "MA_CAFFE_FLAVOUR"))),
        ("microattention_version", _version()),
        ("epochs_run", progress["epochs"]),
    ])
    provenance.update((k, v) for k, v in environment.items() if k not in provenance)
    link_final(final_model, fold_dir / FINAL_NAME)
    pred_path = fold_dir / "predictions.csv"
    files.write_together({
        pred_path: metrics.predictions_csv(rows, classes),
        fold_dir / "metrics.json": to_json(fold_metrics),
        fold_dir / "provenance.json": to_json(provenance),
    })
    done = collections.OrderedDict([
        ("format", FORMAT), ("fold", fold_id), ("protocol", protocol), ("net", net),
        ("fold_dir", str(fold_dir)), ("settings", settings),
        ("metrics", collections.OrderedDict(
            (k, fold_metrics[k]) for k in ("samples", "war", "uar", "f1_megc2018",
                                           "uf1_megc2019"))),
        ("final_snapshot", final_model.name),
        ("final_weights", FINAL_NAME),
        ("final_snapshot_sha256", provenance["files_sha256"][final_model.name]),
        ("predictions", pred_path.name),
        ("seconds", round(time.time() - started, 3)),
        ("finished", now()),
    ])
    files.atomic_write(fold_dir / "done.json", to_json(done))
    done["skipped"] = False
    return done


def _version():
    from microattention import __version__
    return __version__
