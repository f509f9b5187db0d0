"""The demo's first stages: the data (demo-data), the indexes, the face
crops with the identity check, and the index files training reads (samples
with a face; the validation people apart from pre-training)."""
import collections
import os

from microattention import files
from microattention.datasets import command as index_command
from microattention.datasets.common import sample_id
from microattention.demo.checks import leaks, people_of_sets
from microattention.demo.config import SEED
from microattention.demo.data import command as demo_data_command
from microattention.demo.invoke import call
from microattention.demo.tables import csv_text, read_csv
from microattention.errors import UserError
from microattention.faces import command as faces_command


class PreparationStages:
    """The stages data, index and faces (a part of pipeline.Demo)."""

    def stage_data(self):
        c = self.config
        argv = (["--out", self.p("data"), "--seed", SEED,
                 "--micro-people", c.micro_people, "--macro-people", c.macro_people]
                + (["--photos-per-person", c.photos_per_person] if c.photos_per_person else [])
                + ["--au-variants", c.au_variants,
                   "--jitter", c.jitter,
                   "--micro-clips", c.micro_clips, "--macro-clips", c.macro_clips,
                   "--micro-frames", c.micro_frames, "--macro-frames", c.macro_frames,
                   "--magnitude-micro", c.magnitude_micro,
                   "--magnitude-macro", c.magnitude_macro, "--furrows", c.furrows,
                   "--force"])
        call(demo_data_command, argv)

    def stage_index(self):
        files.output_dir(self.p("index"))
        for dataset in ("casme2", "ckplus"):
            call(index_command, ["--dataset", dataset, "--root", self.p("data", dataset),
                           "--out", self.p("index", dataset + ".csv"),
                           "--quiet-warnings"])

    def stage_faces(self):
        """Crops of both sets; the training indexes keep the samples with a
        face (the training stages stop at a sample without one)."""
        workers = max(1, min(2, len(os.sched_getaffinity(0))))
        kept = collections.OrderedDict()
        for dataset in ("casme2", "ckplus"):
            call(faces_command, ["--index", self.p("index", dataset + ".csv"),
                           "--out", self.p("faces", dataset), "--workers", workers,
                           "--no-progress"])
            kept[dataset] = self.usable_index(dataset)
        problems = leaks(self.p("data"), self.p("index", "casme2-faces.csv"),
                         self.p("index", "ckplus-faces.csv"))
        if problems:
            raise UserError("demo: a person is on both sides of training and test:\n  "
                            + "\n  ".join(problems))
        self.say("  identity check: no LOSO test person (or mirror image of one) in any "
                 "LOSO training or pre-training record")
        return {"samples": kept, "people": people_of_sets(self.p("data"))}

    def usable_index(self, dataset):
        rows, columns = read_csv(self.p("index", dataset + ".csv"))
        status = {r["sample_id"]: r["status"]
                  for r in read_csv(self.p("faces", dataset, "faces.csv"))[0]}
        kept = [r for r in rows if status.get(sample_id(r)) == "ok"]
        # CK+ samples are sequences of 3 frames: keep a sequence only whole
        clips = collections.Counter((r["subject"], r["clip"]) for r in rows)
        kept_clips = collections.Counter((r["subject"], r["clip"]) for r in kept)
        kept = [r for r in kept if kept_clips[(r["subject"], r["clip"])] ==
                clips[(r["subject"], r["clip"])]]
        files.atomic_write(self.p("index", dataset + "-faces.csv"), csv_text(columns, kept))
        dropped = len(rows) - len(kept)
        self.say("  %s: %d of %d index rows have a face and are used, %d left out"
                 % (dataset, len(kept), len(rows), dropped))
        return collections.OrderedDict([("rows", len(rows)), ("used", len(kept)),
                                        ("left_out", dropped)])

    def split_validation_people(self):
        """ckplus-pretrain.csv (the pre-training people but the validation
        ones) and ckplus-validation.csv (the validation people, whole
        subjects: a person's photographs and mirror images are one subject).
        Settings are judged on the second: accuracy on people the net never
        saw is what LOSO needs; the clip tenth that pre-training holds out
        shares its people with training and so rewards memorising faces."""
        names = self.config.validation_people.split(",")
        people = people_of_sets(self.p("data"))["macro"]
        unknown = [n for n in names if n not in people]
        if unknown:
            raise UserError("demo: validation people %s are not pre-training people (%s)"
                            % (", ".join(unknown), ", ".join(people)))
        held = {people[n] for n in names}
        rows, columns = read_csv(self.p("index", "ckplus-faces.csv"))
        paths = {}
        for name, keep in (("pretrain", lambda r: r["subject"] not in held),
                           ("validation", lambda r: r["subject"] in held)):
            paths[name] = self.p("index", "ckplus-%s.csv" % name)
            files.write_if_changed(paths[name], csv_text(columns, [r for r in rows if keep(r)]))
        return paths, sorted(held)

