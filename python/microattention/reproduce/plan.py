"""The plan: every stage reproduce runs, in order, as the exact command line
of a lower stage (`python3 -m microattention ...`), with the files it
writes under --out. Nothing here runs or reads data; estimate.py adds disk
and time, stages.py runs the commands."""
import collections
import os
import shlex

from microattention import protocols
from microattention.reproduce.discover import MACRO, micro_sets

PROGRAM = ("python3", "-m", "microattention")
NETS = ("resnet10", "complex_attention", "micro_attention")
SUMMARY_ITERATIONS = 5       # the summary command's default caffe time iterations
PRETRAINED = os.path.join("runs", "pretrain", "resnet10", "pretrain", "final.caffemodel")
GRAY = os.path.join("weights", "resnet10_cvgj_gray.caffemodel")
IMAGENET = os.path.join("weights", "resnet10_cvgj_iter_320000.caffemodel")

# group: index, faces, weights, pretrain, transfer, run, report. info: what
# estimate.py needs (datasets, protocol, net, epochs, ...).
Stage = collections.namedtuple("Stage", "name group argv info")
Settings = collections.namedtuple(
    "Settings", "out present tables nets gpu jobs scale start_weights skip_bad folds mug_apex",
    defaults=(None,))


def shell_line(argv):
    """The argv as one line a shell runs unchanged."""
    return " ".join(shlex.quote(str(a)) for a in argv)


def scaled_epochs(protocol, scale):
    """--epochs for a protocol under --scale (None at scale 1: the protocol's)."""
    if scale == 1:
        return None
    return max(1, int(round(protocols.get(protocol).total_epochs * scale)))


class Planner:
    def __init__(self, settings, fold_ids=None):
        self.s = settings
        self.fold_ids = fold_ids     # (datasets, protocol) -> fold ids, for --folds
        self.stages = []
        self.notes = []          # deviations from the paper the plan itself makes

    def p(self, *parts):
        return os.path.join(self.s.out, *parts)

    def add(self, name, group, args, **info):
        self.stages.append(Stage(name, group, PROGRAM + tuple(str(a) for a in args), info))

    def common(self):
        """--gpu and --jobs as `run` takes them."""
        return (["--gpu", self.s.gpu] if self.s.gpu is not None else []) + \
            (["--jobs", self.s.jobs] if self.s.jobs != 1 else [])

    # ----------------------------------------------------------- data
    def index(self, datasets, name):
        path = self.p("index", name + ".csv")
        args = ["index"]
        for d in datasets:
            args += ["--dataset", d, "--root", self.s.present[d]]
        if "mug" in datasets and self.s.mug_apex:
            args += ["--mug-apex", self.s.mug_apex]
        args += ["--out", path] + (["--skip-bad"] if self.s.skip_bad else [])
        self.add("index-" + name, "index", args, datasets=list(datasets), path=path)
        return path

    def faces(self, index, name, datasets):
        folder = self.p("faces", name)
        args = ["faces", "--index", index, "--out", folder, "--no-progress"]
        if self.s.jobs > 1:
            args += ["--workers", self.s.jobs]
        self.add("faces-" + name, "faces", args + (["--skip-bad"] if self.s.skip_bad else []),
                 datasets=list(datasets), index=index)
        return folder

    # ----------------------------------------------------------- weights
    def start(self):
        """The weights pre-training (or, without macro sets, the transfers)
        start from: the ImageNet ResNet-10 made gray, or --start-weights."""
        if self.s.start_weights:
            self.notes.append("start weights %s (--start-weights): NOT the ImageNet ResNet-10; "
                              "the reports flag the initial weights as not traced to ImageNet"
                              % self.s.start_weights)
            return self.s.start_weights, "start"
        self.add("weights-fetch", "weights", ["weights", "fetch", "--out", self.p(IMAGENET)],
                 net="imagenet")
        self.add("weights-gray", "weights", ["weights", "imagenet-to-gray", "--in",
                                             self.p(IMAGENET), "--out", self.p(GRAY)],
                 net="resnet10")
        return self.p(GRAY), "imagenet"

    def pretrain(self, start, index, faces):
        args = ["run", "--protocol", "pretrain", "--index", index, "--faces", faces,
                "--weights", start, "--run-dir", self.p("runs")]
        epochs = scaled_epochs("pretrain", self.s.scale)
        args += (["--epochs", epochs] if epochs else []) + \
            (["--gpu", self.s.gpu] if self.s.gpu is not None else [])
        self.add("pretrain", "pretrain", args, protocol="pretrain", net="resnet10",
                 index=index, epochs=epochs, datasets=self.macro)
        return self.p(PRETRAINED)

    def transfer(self, source, net, classes, tag):
        suffix = "" if classes == 5 else "_smic"
        out = self.p("weights", "%s_%s%s.caffemodel" % (net, tag, suffix))
        args = ["weights", "transfer", "--from", source, "--to", net, "--out", out]
        if classes != 5:
            args[-2:-2] = ["--num-output", classes, "--reinit-classifier"]
        self.add("transfer-%s%s" % (net, suffix), "transfer", args, net=net)
        return out

    # ----------------------------------------------------------- runs, tables
    def protocol_run(self, protocol, net, index, faces, weights, run_dir, datasets):
        """`run` of every fold, or with --folds N `train-fold` of the first N."""
        args = ["--protocol", protocol, "--index", index, "--faces", faces,
                "--weights", weights, "--net", net, "--run-dir", run_dir]
        epochs = scaled_epochs(protocol, self.s.scale)
        args += ["--epochs", epochs] if epochs else []
        name = "%s-%s" % (protocol, net) if protocol != "loso" else \
            "loso-%s-%s" % (datasets[0], net)
        info = dict(protocol=protocol, net=net, index=index, datasets=list(datasets),
                    epochs=epochs)
        if not self.s.folds:
            self.add(name, "run", ["run"] + args + self.common(), **info)
            return
        gpu = ["--gpu", self.s.gpu] if self.s.gpu is not None else []
        for fold in self.fold_ids(datasets, protocol)[:self.s.folds]:
            self.add("%s-%s" % (name, fold), "run",
                     ["train-fold", "--fold", fold] + args + gpu, folds=[fold], **info)

    def report(self, name, run_dirs, table):
        folder = self.p("tables", name)
        self.add(name if table else "report-" + name, "report",
                 ["report"] + list(run_dirs) + ["--out", folder], table=table, folder=folder)

    def table3(self):
        args = ["summary", "--out", self.p("tables", "table3")]
        if self.s.scale != 1:
            args += ["--iterations", max(1, int(round(SUMMARY_ITERATIONS * self.s.scale)))]
        if self.s.gpu is not None:
            args += ["--gpu", self.s.gpu]
        self.add("table3", "report", args, table=3, folder=self.p("tables", "table3"))

    def data_stages(self, micro, macro):
        """Index and faces stages; {dataset or 'pooled'/'macro': (index, faces)}."""
        where = {}
        if micro["pooled"]:
            where["pooled"] = [self.index(micro["pooled"], "casme2+samm")]
        for d in micro["loso"]:
            where[d] = [self.index([d], d)]
        if macro:
            where["macro"] = [self.index(macro, "macro")]
        if micro["pooled"]:
            folder = self.faces(where["pooled"][0], "micro", micro["pooled"])
            for key in ["pooled"] + [d for d in micro["pooled"] if d in where]:
                where[key].append(folder)
        for d in micro["loso"]:
            if len(where[d]) == 1:
                where[d].append(self.faces(where[d][0], d, [d]))
        if macro:
            where["macro"].append(self.faces(where["macro"][0], "macro", macro))
        return where

    def build(self):
        tables = self.s.tables
        micro = micro_sets(tables, self.s.present)
        trains = bool(micro["pooled"] or micro["loso"])
        macro = self.macro = [d for d in MACRO if d in self.s.present] if trains else []
        where = self.data_stages(micro, macro)
        weights = {}
        if trains:
            start, tag = self.start()
            if macro:
                source, tag = self.pretrain(start, *where["macro"]), "macro"
            else:
                source = start
                self.notes.append("no macro-expression set: no pre-training; the nets start "
                                  "from %s (NOT the paper's transfer chain)" % start)
            five = micro["pooled"] or [d for d in micro["loso"] if d != "smic"]
            for net in self.s.nets:
                if five:
                    weights[net, 5] = source if net == "resnet10" else \
                        self.transfer(source, net, 5, tag)
                if "smic" in micro["loso"]:
                    weights[net, 3] = self.transfer(source, net, 3, tag)
        for protocol in ("hde", "cde"):
            if micro["pooled"] and any(t in tables for t in {"hde": (2,), "cde": (4, 5)}[protocol]):
                for net in self.s.nets:
                    self.protocol_run(protocol, net, *where["pooled"], weights[net, 5],
                                      self.p("runs"), micro["pooled"])
        for d in micro["loso"]:
            for net in self.s.nets:
                self.protocol_run("loso", net, *where[d], weights[net, 3 if d == "smic" else 5],
                                  self.p("runs", "loso-" + d), [d])
        if macro:
            self.report("pretrain", [self.p("runs", "pretrain")], None)
        if 2 in tables:
            self.report("table2", [self.p("runs", "hde")], 2)
        if 3 in tables:
            self.table3()
        if 4 in tables or 5 in tables:
            self.report("table4-5", [self.p("runs", "cde")], 4)
        if micro["loso"]:
            self.report("table6", [self.p("runs", "loso-" + d, "loso")
                                   for d in micro["loso"]], 6)
        return self.stages


def make_plan(settings, fold_ids=None):
    """(stages, notes) for the settings; fold_ids(datasets, protocol) gives
    a protocol's fold ids (needed with --folds)."""
    planner = Planner(settings, fold_ids)
    stages = planner.build()
    if settings.folds:
        planner.notes.append("only the first %d fold(s) of each protocol are trained "
                             "(--folds): every table is PARTIAL" % settings.folds)
    names = [s.name for s in stages]
    assert len(names) == len(set(names)), names
    return stages, planner.notes
