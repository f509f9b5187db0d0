"""LOSO fine-tuning of each net on the micro set, from the pre-trained
weights, over the folds the config trains."""
import collections

from microattention import files, metrics
from microattention.train import layout, runs
from microattention.train.fold import train_fold


class LosoStages:
    """The stages loso-micro_attention and loso-resnet10 (a part of
    pipeline.Demo)."""

    def loso(self, net):
        chosen, total = self.loso_folds()
        per_fold = collections.OrderedDict()
        for number, fold in enumerate(chosen, start=1):
            self.say("  %s fold %s (%d/%d, of the %d LOSO folds)"
                     % (net, fold, number, len(chosen), total))
            done = train_fold(
                self.p("index", "casme2-faces.csv"), self.p("faces", "casme2"),
                self.protocol("loso"), fold,
                self.start_weights(net), net=net, run_dir=self.p("runs"),
                epochs=self.config.loso_epochs, seed=0, gpu=self.gpu, log=self.fold_log,
                recalibrate_bn=True)
            per_fold[fold] = done["metrics"]["war"]
            self.say("  %s fold %s: accuracy %.3f on %d test samples"
                     % (net, fold, done["metrics"]["war"], done["metrics"]["samples"]))
        runs.pool(self.p("runs"), "loso", net, chosen, metrics)
        pooled = files.read_json(self.p("runs", "loso", net, layout.METRICS_NAME))["pooled"]
        return collections.OrderedDict([("folds", chosen), ("folds_total", total),
                                        ("war", pooled["war"]), ("uar", pooled["uar"]),
                                        ("samples", pooled["samples"]),
                                        ("per_fold_war", per_fold)])

    def stage_loso_micro_attention(self):
        return self.loso("micro_attention")

    def stage_loso_resnet10(self):
        return self.loso("resnet10")

