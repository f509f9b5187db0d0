"""The records a trained fold leaves (step 5 of train-fold): provenance.json
(inputs and their sha256, the schedule, the protocol's folds, the initial
weights' origin, where it ran) and done.json, written last."""
import collections
import os
import pathlib
import time

from microattention import __version__, files, protocols
from microattention.train import caffe, layout
from microattention.train.schedule import SEED_STRIDE


def lmdb_side(lmdb_dir, built, name):
    """provenance.json's record of one of the fold's LMDBs."""
    sidecar = pathlib.Path(str(lmdb_dir / name) + ".json")
    return collections.OrderedDict([
        ("path", str(lmdb_dir / name)), ("family", built[name]["family"]),
        ("sidecar_sha256", files.sha256(sidecar)),
        ("fingerprint", built[name]["fingerprint"]), ("records", built[name]["count"]),
        ("class_counts_records", built[name]["class_counts_records"])])


def schedule_record(p, plan):
    return collections.OrderedDict([
        ("training_records", plan.train_n), ("test_records", plan.test_n), ("batch", p.batch),
        ("test_batch", p.test_batch), ("iterations_per_epoch", plan.per_epoch),
        ("epochs", plan.epochs), ("max_iter", plan.max_iter),
        ("stepsize", p.step_epochs * plan.per_epoch),
        ("caffe_random_seed", "seed * %d + epoch" % SEED_STRIDE),
        ("one_caffe_process_per_epoch", True)])


def provenance(p, settings, inputs, lmdb_dir, built, plan, final_model, environment,
               protocol_folds, initial_weights, epochs_run):
    """provenance.json's content; `inputs`: (index, faces, weights)."""
    index, faces, weights = inputs
    document = collections.OrderedDict([
        ("format", layout.FORMAT), ("settings", settings),
        ("inputs", collections.OrderedDict([
            ("index", str(index.resolve())), ("faces", str(pathlib.Path(faces).resolve())),
            ("weights", str(weights.resolve()))])),
        ("protocol_table", collections.OrderedDict(
            (k, v._asdict() if hasattr(v, "_asdict") else v) for k, v in p._asdict().items())),
        ("project_choices", collections.OrderedDict(
            (field, why) for (name, field), why in protocols.CHOICES.items()
            if name == p.name)),
        ("lmdb", collections.OrderedDict([("train", lmdb_side(lmdb_dir, built, "train")),
                                          ("test", lmdb_side(lmdb_dir, built, "test"))])),
        ("schedule", schedule_record(p, plan)),
        ("files_sha256", collections.OrderedDict(
            (path.name, files.sha256(path)) for path in (plan.net_path, plan.solver_path,
                                                        plan.deploy_path, final_model))),
        ("caffe_version", environment["caffe_version"]),
        # the report's fold count: the protocol's folds of this index, whatever is pooled
        ("protocol_folds", protocol_folds),
        ("initial_weights", initial_weights),
        # the BLAS thread count and kernel change the last bits of the results
        ("environment", collections.OrderedDict(
            (k, os.environ.get(k)) for k in ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
                                             "OMP_NUM_THREADS", "MA_CAFFE_FLAVOUR"))),
        ("microattention_version", __version__),
        ("epochs_run", epochs_run),
    ])
    document.update((k, v) for k, v in environment.items() if k not in document)
    return document


def done(settings, fold_dir, fold_metrics, final_model, final_sha256, started):
    """done.json's content."""
    return collections.OrderedDict([
        ("format", layout.FORMAT), ("fold", settings["fold"]),
        ("protocol", settings["protocol"]), ("net", settings["net"]),
        ("fold_dir", str(fold_dir)), ("settings", settings),
        ("metrics", collections.OrderedDict(
            (k, fold_metrics[k]) for k in ("samples", "war", "uar", "f1_megc2018",
                                           "uf1_megc2019"))),
        ("final_snapshot", final_model.name),
        ("final_weights", layout.FINAL_NAME),
        ("final_snapshot_sha256", final_sha256),
        ("predictions", layout.PREDICTIONS_NAME),
        ("seconds", round(time.time() - started, 3)),
        ("finished", caffe.now()),
    ])
