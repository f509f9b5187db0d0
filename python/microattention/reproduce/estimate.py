"""Disk and time of each stage of the plan, before anything runs: the
samples and folds from the databases themselves (their readers, as `index`
reads them, images not decoded), the records and bytes from train/disk.py,
and the time from a short `caffe time` of each net on this machine, kept in
OUT/reproduce/caffe-time.json so that a later call does not measure again."""
import argparse
import collections
import math
import os
import platform

from microattention import augment, files, protocols
from microattention.datasets import READERS
from microattention.datasets.classes import CLASSES, FAMILY
from microattention.datasets.common import Collector, sample_id
from microattention.errors import UserError
from microattention.lmdbs.build import VAL_FRACTION, validation_split
from microattention.lmdbs.records import record_bytes
from microattention.nets import measure
from microattention.train import disk, selection

TIME_BATCH = 10              # the caffe time batch; other batches scale linearly
TIME_ITERATIONS = 2
# caffemodel sizes when pycaffe cannot count them (docs/transfer-chain.md)
MODEL_BYTES = {"resnet10": 19.6e6, "micro_attention": 23.8e6, "complex_attention": 44.7e6}
IMAGENET_EXTRA = 4 * (512 * 1000 + 1000)    # the ImageNet model's 1000-class classifier
FACE_BYTES = 60e3            # a 240x240 gray PNG (at most 57.6 kB of pixels) + landmarks
FACE_SECONDS = 0.08          # CPU per face, 640x480 frame (docs/faces.md), not measured here
REPORT_BYTES = 2e6
CACHE_NAME = "caffe-time.json"


def read_dataset(name, root, skip_bad):
    """The rows `index --dataset name --root root` would write, keyed by
    sample id (images listed, not decoded); its UserError names the set."""
    reader = READERS[name]
    col = Collector(name, reader.DISPLAY, root, reader.CLASSES, skip_bad=skip_bad,
                    check_images=False)
    opts = argparse.Namespace(sheet=None, objective=None, derive_classes=False, frames="auto",
                              camera=None, illumination="strong", mug_frames="6-10",
                              mug_apex=None, skip_bad=skip_bad)
    try:
        reader.index(os.path.abspath(root), opts, col)
        col.finish()
    except UserError as exc:
        raise UserError("%s in %s is not in its released layout (docs/datasets-layout.md), so "
                        "`index` would stop: %s" % (reader.DISPLAY, root, exc))
    except OSError as exc:
        raise UserError("%s: cannot read %s: %s" % (reader.DISPLAY, root, exc.strerror or exc))
    rows = collections.OrderedDict()
    for row in col.rows:
        rows[sample_id(row)] = row
    return rows


def fold_sizes(rows, protocol):
    """{fold id: (training records, test images)} of a protocol's folds on rows."""
    family = FAMILY[next(iter(rows.values()))["dataset"]]
    label = {k: CLASSES[family].index(r["label"]) for k, r in rows.items()}
    if protocol == "pretrain":
        ordered = [dict(r, _label=label[k]) for k, r in rows.items()]
        held = validation_split(ordered, VAL_FRACTION, 0)
        train = [ordered[i]["_label"] for i in range(len(ordered)) if i not in held]
        return {"pretrain": (disk.training_records(train, protocol), max(1, len(held)))}
    return collections.OrderedDict(
        (fold["fold"], (disk.training_records([label[i] for i in fold["train"]], protocol),
                        len(fold["test"]))) for fold in selection.split(rows, "index", protocol))


def machine_key(gpu):
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            cpu = next((l.split(":", 1)[1].strip() for l in handle
                        if l.startswith("model name")), "")
    except OSError:
        pass
    return {"gpu": gpu, "cpu": cpu or platform.processor(), "cores": os.cpu_count(),
            "machine": platform.machine()}


def caffe_times(cache_dir, gpu, measure_nets, say=None):
    """{net: {forward_ms, backward_ms, forward_backward_ms, stored_values}}
    at batch TIME_BATCH, measured now or read from the cache made on this
    machine; (times, None) or ({}, why not)."""
    path = os.path.join(cache_dir, CACHE_NAME)
    key = machine_key(gpu)
    try:
        cached = files.read_json(path, "remove it to measure again")
    except UserError:
        cached = None
    if cached and cached.get("machine") == key and set(cached.get("nets", {})) >= set(
            measure_nets):
        return cached["nets"], None
    if say:
        say("measuring `caffe time` of %s for the time estimate (kept in %s)"
            % (", ".join(measure_nets), path))
    args = argparse.Namespace(nets=list(measure_nets), num_output=5, size=224,
                              batch=TIME_BATCH, iterations=TIME_ITERATIONS, repeats=1,
                              caffe="caffe", no_time=False, gpu=gpu, layers=False)
    try:
        rows = measure.measure(args)
    except (UserError, ImportError, OSError) as exc:
        return {}, "no caffe time measurement (%s)" % str(exc).splitlines()[0]
    nets = {r["net"]: {k: r[k] for k in ("forward_ms", "backward_ms", "forward_backward_ms",
                                         "stored_values")} for r in rows}
    files.output_dir(cache_dir)
    files.write_json(path, {"machine": key, "batch": TIME_BATCH,
                            "iterations": TIME_ITERATIONS, "nets": nets})
    return nets, None


def model_bytes(net, times):
    if net in times:
        return 4 * times[net]["stored_values"]
    return MODEL_BYTES[net]


def run_cost(sizes, protocol, net, epochs, times):
    """(seconds or None, LMDB bytes, final weights bytes, pair bytes) of a
    protocol run over folds of the given sizes."""
    p = protocols.get(protocol)
    epochs = epochs or p.total_epochs
    lmdb = sum(train * record_bytes(augment.FACE_SIZE) + test * record_bytes(augment.TEST_SIZE)
               for train, test in sizes)
    model = model_bytes(net, times)
    pair = model + disk.solverstate_bytes(model, protocol)
    seconds = None
    if net in times:
        t = times[net]
        seconds = sum(epochs * math.ceil(train / float(p.batch)) * t["forward_backward_ms"]
                      * p.batch / TIME_BATCH / 1000.0
                      + epochs * test * t["forward_ms"] / TIME_BATCH / 1000.0
                      for train, test in sizes)
    return seconds, lmdb, len(sizes) * model, pair


Cost = collections.namedtuple("Cost", "bytes seconds peak note")


class Estimator:
    """The Cost of each stage of a plan (bytes kept, seconds, bytes needed
    only while it runs, and a note on how it was found)."""

    def __init__(self, settings, times=None, cores=None):
        self.s = settings
        self.times = times or {}
        self.cores = cores or len(os.sched_getaffinity(0))
        self._rows = {}
        self._sizes = {}
        self._lmdbs = set()      # (run dir, protocol): LMDBs counted once for the nets

    def rows(self, datasets):
        out = collections.OrderedDict()
        for name in datasets:
            if name not in self._rows:
                self._rows[name] = read_dataset(name, self.s.present[name], self.s.skip_bad)
            out.update(self._rows[name])
        return out

    def sizes(self, datasets, protocol):
        key = (tuple(datasets), protocol)
        if key not in self._sizes:
            self._sizes[key] = fold_sizes(self.rows(datasets), protocol)
        return self._sizes[key]

    def fold_ids(self, datasets, protocol):
        return list(self.sizes(datasets, protocol))

    def stage(self, stage):
        return getattr(self, "cost_" + stage.group)(stage)

    def costs(self, stage_list):
        """{stage name: Cost} of the plan."""
        return collections.OrderedDict((s.name, self.stage(s)) for s in stage_list)

    def cost_index(self, stage):
        n = len(self.rows(stage.info["datasets"]))
        return Cost(300 * n, 0.01 * n, 0, "%d samples" % n)

    def cost_faces(self, stage):
        n = len(self.rows(stage.info["datasets"]))
        workers = max(1, min(self.s.jobs, self.cores))
        return Cost(FACE_BYTES * n, FACE_SECONDS * n / workers, 0,
                    "%d faces; time from docs/faces.md (%.0f ms CPU a face), not measured"
                    % (n, 1000 * FACE_SECONDS))

    def cost_weights(self, stage):
        if stage.info["net"] == "imagenet":
            return Cost(model_bytes("resnet10", self.times) + IMAGENET_EXTRA, None, 0,
                        "a download: time depends on the network")
        return Cost(model_bytes(stage.info["net"], self.times), 10, 0, "")

    cost_transfer = cost_weights

    def cost_pretrain(self, stage):
        return self.cost_run(stage)

    def cost_run(self, stage):
        info = stage.info
        sizes = self.sizes(info["datasets"], info["protocol"])
        sizes = [sizes[f] for f in info.get("folds") or sizes]
        seconds, lmdb, final, pair = run_cost(sizes, info["protocol"], info["net"],
                                              info["epochs"], self.times)
        key = (info["protocol"], tuple(info["datasets"]), tuple(info.get("folds") or ()))
        if key in self._lmdbs:
            lmdb = 0            # built by the first net, shared by the others
        self._lmdbs.add(key)
        running = min(self.s.jobs, len(sizes))
        epochs = info["epochs"] or protocols.get(info["protocol"]).total_epochs
        note = "%d fold(s), %d epochs, %d training records%s" % (
            len(sizes), epochs, sum(t for t, _ in sizes),
            "" if seconds is not None else "; time unknown without caffe time")
        return Cost(lmdb + final, seconds, running * disk.SNAPSHOT_PAIRS_WRITING * pair, note)

    def cost_report(self, stage):
        if stage.argv[3] == "summary":
            nets = [n for n in measure.ORDER if n in self.times]
            seconds = sum(10 + 5 * self.times[n]["forward_backward_ms"] / 1000.0 for n in nets)
            return Cost(1e5, seconds if nets else None, 0, "caffe time of the three nets")
        return Cost(REPORT_BYTES, 15, 0, "")
