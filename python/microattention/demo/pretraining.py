"""Pre-training: ResNet-10 on the macro set but its validation people, its
accuracy on those people (the number the demo's settings are judged by),
the filler weights it starts from, and the transfer of its weights into
both nets."""
import collections
import os

from microattention import files, lmdbs, metrics
from microattention.attention.learning import attention_layers, draw_units
from microattention.datasets.common import sample_id
from microattention.demo.config import NETS, SEED, VALIDATION_PREDICTIONS
from microattention.demo.invoke import call
from microattention.demo.statistics import CHANCE, binomial_tail
from microattention.demo.tables import read_csv
from microattention.nets import prototxt
from microattention.nets import weights_command
from microattention.train import evaluate, runs
from microattention.train.fold import train_fold
from microattention.train.layout import FINAL_NAME, PRETRAIN_FOLD


class PretrainingStages:
    """The stages pretrain and transfer (a part of pipeline.Demo)."""

    def validate_on_people(self, done, index, net="resnet10"):
        """Accuracy of the pre-trained net (as LOSO starts from it: BatchNorm
        recalibrated) on the held-out people's faces, unaugmented."""
        fold_dir = self.p("runs", "pretrain", net, PRETRAIN_FOLD)
        rows, _ = read_csv(index)
        ids = self.p("runs", "validation-people.txt")
        files.write_if_changed(ids, "".join(sample_id(r) + "\n" for r in rows))
        built = lmdbs.build(str(index), str(self.p("faces", "ckplus")),
                            str(self.p("runs", "validation-people-lmdb")), "loso",
                            split="test", samples=str(ids), seed=0, progress=False,
                            log=self.fold_log)
        predictions = evaluate.predict(fold_dir / "deploy.prototxt",
                                       fold_dir / done["final_snapshot"],
                                       self.p("runs", "validation-people-lmdb"), self.gpu)
        scored = evaluate.prediction_rows("validation-people", predictions, built)
        name = VALIDATION_PREDICTIONS if net == "resnet10" else "%s-%s" % (
            net, VALIDATION_PREDICTIONS)
        files.atomic_write(self.p("runs", name),
                           metrics.predictions_csv(scored, list(built["classes"])))
        pooled = metrics.evaluate(scored, list(built["classes"]))["pooled"]
        predicted = collections.Counter(int(r["predicted_label"]) for r in scored)
        return pooled, predicted

    def stage_pretrain(self):
        """ResNet-10 (the paper's chain), and each further net of the
        config's pretrain_nets (a variant outside the paper: its record
        under 'outside_the_paper')."""
        paths, held = self.split_validation_people()
        result = self.pretrain_net("resnet10", paths, held)
        for net in self.config.pretrain_nets:
            if net != "resnet10":
                result.setdefault("outside_the_paper", {})[net] = self.pretrain_net(
                    net, paths, held)
        return result

    def pretrain_net(self, net, paths, held):
        """One net pre-trained on the macro set but its validation people,
        from the fillers (or --init-weights), tested on those people. A net
        with attention units starts them from a draw in a file
        (OUT/weights/NET_pretrain_start.caffemodel, seed SEED), so that their
        change in pre-training can be measured."""
        weights = self.init_weights or self.filler_weights()
        if attention_layers(prototxt.load(net)):
            drawn = self.p("weights", "%s_pretrain_start.caffemodel" % net)
            draw_units(weights, drawn, net, SEED)
            weights = str(drawn)
        done = train_fold(
            paths["pretrain"], self.p("faces", "ckplus"), self.protocol("pretrain"),
            PRETRAIN_FOLD, weights, net=net, run_dir=self.p("runs"),
            epochs=self.config.pretrain_epochs, seed=0, gpu=self.gpu, log=self.fold_log,
            recalibrate_bn=True)
        runs.pool(self.p("runs"), "pretrain", net, [PRETRAIN_FOLD], metrics)
        pooled, predicted = self.validate_on_people(done, paths["validation"], net)
        right = int(round(pooled["war"] * pooled["samples"]))
        self.say("  %svalidation on %d held-out pre-training people (%s): accuracy %.3f, "
                 "UAR %.3f on %d faces, P(X >= %d | chance) = %.2g; predicted classes %s"
                 % ("" if net == "resnet10" else net + " (outside the paper's chain) ",
                    len(held), ", ".join(held), pooled["war"], pooled["uar"],
                    pooled["samples"], right,
                    binomial_tail(right, pooled["samples"], CHANCE), dict(predicted)))
        return {"validation_people": self.config.validation_people.split(","),
                "validation_accuracy": pooled["war"], "validation_uar": pooled["uar"],
                "validation_samples": pooled["samples"],
                "clip_tenth_accuracy": done["metrics"]["war"],
                "clip_tenth_samples": done["metrics"]["samples"],
                "init_weights": weights}

    def filler_weights(self):
        """A ResNet-10 caffemodel as Caffe's fillers make it (seeded)."""
        path = self.p("weights", "resnet10_fillers.caffemodel")
        if path.is_file():
            return str(path)
        caffe = prototxt.import_caffe()
        caffe.set_random_seed(SEED)
        net = prototxt.build(prototxt.render_deploy("resnet10", num_output=5), "TEST")
        files.output_dir(path.parent)
        tmp = path.with_name("." + path.name + ".tmp")
        net.save(str(tmp))
        os.replace(str(tmp), str(path))
        return str(path)

    def pretrained(self, net="resnet10"):
        return self.p("runs", "pretrain", net, PRETRAIN_FOLD, FINAL_NAME)

    def start_weights(self, net):
        return self.p("weights", "%s_macro.caffemodel" % net)

    def stage_transfer(self):
        """Each net from the pre-trained ResNet-10 (the paper's chain), or
        from its own pre-training when the config pre-trains it too."""
        for net in NETS:
            source = net if net in self.config.pretrain_nets else "resnet10"
            call(weights_command, ["transfer", "--from", self.pretrained(source), "--to", net,
                                   "--out", self.start_weights(net)])
