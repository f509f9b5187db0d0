"""The demo as a pipeline: its folder and settings, the stages run in order
(a finished stage is skipped on the next run) with their times, and what
every stage shares (the protocols as the demo runs them, the LOSO folds it
trains, the stage records). The stages themselves are in preparation,
pretraining, loso and results; demo.md in summary."""
import collections
import json
import os
import pathlib
import resource
import time

from microattention import files, protocols
from microattention.demo.config import (
    CONFIGS, EARLIER_DEMO, FORMAT, SEED, STAGES, TRAINING_STAGES, UNRECORDED_DEFAULTS)
from microattention.demo.loso import LosoStages
from microattention.demo.preparation import PreparationStages
from microattention.demo.pretraining import PretrainingStages
from microattention.demo.results import ResultStages
from microattention.demo.summary import Summary
from microattention.demo.tables import json_text, plain
from microattention.errors import UserError
from microattention.train import selection


def cpu_seconds():
    """CPU seconds of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Demo(PreparationStages, PretrainingStages, LosoStages, ResultStages, Summary):
    def __init__(self, out, config_name, init_weights=None, gpu=None, say=None):
        self.out = pathlib.Path(out).resolve()
        self.name = config_name
        self.config = CONFIGS[config_name]
        self.init_weights = str(pathlib.Path(init_weights).resolve()) if init_weights else None
        self.gpu = gpu
        self.say = say or (lambda text: print(text, flush=True))
        self.stage_dir = self.out / "stages"
        self.started = time.time()

    # paths
    def p(self, *parts):
        return self.out.joinpath(*parts)

    @property
    def settings(self):
        values = collections.OrderedDict(
            (k, v) for k, v in self.config._asdict().items()
            if k not in UNRECORDED_DEFAULTS or v != UNRECORDED_DEFAULTS[k])
        return collections.OrderedDict([
            ("format", FORMAT), ("config", self.name), ("seed", SEED),
            ("init_weights", self.init_weights),
            ("values", json.loads(json.dumps(values, default=plain)))])

    def outside_paper(self):
        """The flag of a run outside the paper's chain ('' for the paper's):
        a net pre-trained with attention units, which in the paper exist
        only in fine-tuning."""
        extra = [n for n in self.config.pretrain_nets if n != "resnet10"]
        if not extra:
            return ""
        return ("NOT THE PAPER'S CHAIN: %s pre-trained on the macro set with its attention "
                "units, then fine-tuned from its own pre-training (in the paper only ResNet-10 "
                "is pre-trained and the attention units learn in fine-tuning alone)."
                % " and ".join(extra))

    def banner(self):
        """Summary's banner, after the flag of a run outside the paper's chain."""
        flag = self.outside_paper()
        return (flag + " " if flag else "") + Summary.banner(self)

    def check_settings(self):
        path = self.p("demo.json")
        if path.is_file():
            try:
                old = files.read_json(path)
            except UserError:       # damaged: not the same settings
                old = None
            if old != json.loads(json_text(self.settings)):
                raise UserError("--out %s holds a demo run with other settings (%s); choose "
                                "another --out or remove that folder"
                                % (self.out, path))
        elif self.out.is_dir() and set(os.listdir(str(self.out))) - EARLIER_DEMO:
            raise UserError("--out %s exists and is not a demo folder (no demo.json); "
                            "choose another --out" % self.out)
        files.output_dir(self.out)
        files.write_if_changed(path, json_text(self.settings))

    # ---------------------------------------------------------- stages
    def run(self):
        self.check_settings()
        self.say("demo (%s) in %s: synthetic expression motion on real faces, not a "
                 "benchmark" % (self.name, self.out))
        if self.outside_paper():
            self.say(self.outside_paper())
        if not self.init_weights:
            self.say("no ImageNet weights here (no network): pre-training starts from the "
                     "nets' fillers; pass --init-weights to start from ImageNet-gray weights")
        for number, stage in enumerate(STAGES, start=1):
            self.run_stage(number, stage)
        self.write_summary()
        self.say("report: %s" % self.p("report", "report.html"))
        self.say("summary: %s" % self.p("demo.md"))
        self.say("pictures: %s and %s" % (self.p("figure4.png"), self.p("figure4")))
        self.say("model: %s (predict --model %s --video FILE)" % (self.p("model"),
                                                                  self.p("model")))
        return 0

    def run_stage(self, number, stage):
        """One stage, unless its record says it finished before; its record
        (times and what the stage returns) in OUT/stages/<stage>.json."""
        marker = self.stage_dir / (stage + ".json")
        label = "[%d/%d] %s" % (number, len(STAGES), stage)
        if marker.is_file():
            self.say("%s: finished before, skipped (%.0f s)"
                     % (label, time.time() - self.started))
            return
        self.say("%s: started (%.0f s)" % (label, time.time() - self.started))
        t0, c0 = time.time(), cpu_seconds()
        method = getattr(self, "stage_" + stage.replace("-", "_"))
        if stage in TRAINING_STAGES:
            # docker stop stops caffe as Ctrl-C would (not around the
            # other stages: their worker pools get SIGTERM when done)
            with files.terminate_as_interrupt():
                result = method() or {}
        else:
            result = method() or {}
        record = collections.OrderedDict([
            ("stage", stage), ("seconds", round(time.time() - t0, 1)),
            ("cpu_seconds", round(cpu_seconds() - c0, 1))])
        record.update(result)
        files.atomic_write(marker, json_text(record))
        self.say("%s: done in %.0f s (CPU %.0f s) (%.0f s)" % (
            label, record["seconds"], record["cpu_seconds"], time.time() - self.started))

    def fold_log(self, text):
        self.say("  " + text)

    def protocol(self, name):
        """The protocol as the demo runs it (the table's own when the config
        changes nothing)."""
        return protocols.variant(name, **getattr(self.config, name + "_changes"))

    def loso_folds(self):
        """The LOSO folds the demo trains: the first loso_folds subjects."""
        all_folds = selection.fold_list(self.p("index", "casme2-faces.csv"), "loso")
        return [f["fold"] for f in all_folds][:self.config.loso_folds], len(all_folds)

    def markers(self):
        """{stage: its record} of the finished stages, in the stages' order."""
        out = collections.OrderedDict()
        for stage in STAGES:
            path = self.stage_dir / (stage + ".json")
            if path.is_file():
                out[stage] = files.read_json(path, "remove it to run that stage again")
        return out
