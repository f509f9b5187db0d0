"""LOSO fine-tuning of each net on the micro set, from the pre-trained
weights, over the folds the config trains; with the config's loso_seed_base,
each fold with its own seed and, for a net with attention units (which the
transfer leaves to their fillers), its own start weights with the units
drawn from that seed."""
import collections
import pathlib

from microattention import files, metrics
from microattention.attention.learning import attention_layers, draw_units
from microattention.nets import prototxt
from microattention.nets.sidecar import provenance_path
from microattention.train import layout, runs
from microattention.train.fold import train_fold


class LosoStages:
    """The stages loso-micro_attention and loso-resnet10 (a part of
    pipeline.Demo)."""

    def loso(self, net):
        chosen, total = self.loso_folds()
        per_fold, seeds = collections.OrderedDict(), collections.OrderedDict()
        for number, fold in enumerate(chosen, start=1):
            seeds[fold] = seed = self.fold_seed(number)
            self.say("  %s fold %s (%d/%d, of the %d LOSO folds)%s"
                     % (net, fold, number, len(chosen), total,
                        "" if self.config.loso_seed_base is None else ", seed %d" % seed))
            done = train_fold(
                self.p("index", "casme2-faces.csv"), self.p("faces", "casme2"),
                self.protocol("loso"), fold,
                self.fold_start(net, fold, seed), net=net, run_dir=self.p("runs"),
                epochs=self.config.loso_epochs, seed=seed, gpu=self.gpu, log=self.fold_log,
                recalibrate_bn=True)
            per_fold[fold] = done["metrics"]["war"]
            self.say("  %s fold %s: accuracy %.3f on %d test samples"
                     % (net, fold, done["metrics"]["war"], done["metrics"]["samples"]))
        runs.pool(self.p("runs"), "loso", net, chosen, metrics)
        pooled = files.read_json(self.p("runs", "loso", net, layout.METRICS_NAME))["pooled"]
        return collections.OrderedDict([("folds", chosen), ("folds_total", total),
                                        ("war", pooled["war"]), ("uar", pooled["uar"]),
                                        ("samples", pooled["samples"]),
                                        ("per_fold_war", per_fold)]
                                       + ([] if self.config.loso_seed_base is None else
                                          [("seeds", seeds)]))

    def fold_seed(self, number):
        """The seed of the number-th fold trained (1-based): 0 for every fold
        (the demo), or loso_seed_base + number (the attention experiment: each
        fold's attention units start from their own draw)."""
        base = self.config.loso_seed_base
        return 0 if base is None else base + number

    def fold_start(self, net, fold, seed, weights=None):
        """The weights a fold starts from: the transfer (`weights`, default
        the demo's), or with loso_seed_base, for a net with attention units,
        the transfer with the units drawn from the fold's seed
        (OUT/weights/NET_macro_FOLD_seedS.caffemodel and its record, made by
        attention.learning.draw_units): each fold's own initialisation, in a
        file its provenance names, that weight changes are measured from."""
        weights = pathlib.Path(weights or self.start_weights(net))
        if (self.config.loso_seed_base is None or net in self.config.pretrain_nets
                or not attention_layers(prototxt.load(net))):
            return weights      # no units, or units trained in pre-training
        out = weights.parent / ("%s_%s_seed%d.caffemodel" % (weights.stem, fold, seed))
        if not self.drawn_before(out, weights):
            drawn = draw_units(weights, out, net, seed)
            self.say("  %s fold %s: %s drawn from seed %d (%s)"
                     % (net, fold, ", ".join(drawn), seed, out.name))
        return out

    @staticmethod
    def drawn_before(out, weights):
        """Whether `out` holds a draw from `weights` as they are now (its
        record names their sha256 and its own)."""
        made = files.read_json(provenance_path(out), "remove it to draw it again") or {}
        source = [v for k, v in (made.get("inputs") or {}).items() if k in ("in", "from")]
        return (out.is_file() and made.get("output_sha256") == files.sha256(out)
                and len(source) == 1 and source[0].get("sha256") == files.sha256(weights))

    def stage_loso_micro_attention(self):
        return self.loso("micro_attention")

    def stage_loso_resnet10(self):
        return self.loso("resnet10")

