"""The demo's results: the LOSO and pre-training reports with the demo's
banner, the Figure-4 pictures with their AU-region scores, and the exported
model."""
import collections
import html
import io

import numpy as np
from PIL import Image

from microattention import files
from microattention.attention import command as visualize_command
from microattention.datasets.common import sample_id
from microattention.demo.config import NETS
from microattention.demo.invoke import call
from microattention.demo.tables import read_csv
from microattention.deploy import export
from microattention.report.document import write_report
from microattention.train import layout


class ResultStages:
    """The stages report, visualize and model (a part of pipeline.Demo)."""

    def stage_report(self):
        # the attention experiment gives each fold its own seed and attention draw
        runs_, written = write_report([self.p("runs", "loso")], self.p("report"),
                                      per_fold_init=self.config.loso_seed_base is not None)
        banner = self.banner()
        md = self.p("report", "report.md")
        text = md.read_text(encoding="utf-8")
        head, _, rest = text.partition("\n")
        files.atomic_write(md, head + "\n\n> **" + banner + "**\n" + rest)
        html_path = self.p("report", "report.html")
        page = html_path.read_text(encoding="utf-8")
        note = ('<p style="border:2px solid #b00;padding:0.5em;font-weight:bold">%s</p>'
                % html.escape(banner))
        at = page.find("</h1>")
        page = page[:at + 5] + note + page[at + 5:] if at >= 0 else note + page
        files.atomic_write(html_path, page)
        write_report([self.p("runs", "pretrain")], self.p("report-pretrain"))
        return {"files": [str(p) for p in written]}


    def stage_visualize(self):
        """Both nets of the first trained fold on a few of its test faces, one
        per class, and the pictures stacked into figure4.png."""
        chosen, _ = self.loso_folds()
        fold = chosen[0]
        fold_dirs = {net: layout.fold_dir_of(self.p("runs"), "loso", net, fold)
                     for net in NETS}
        test_ids = [l.strip() for l in (fold_dirs[NETS[0]] / "test.txt").read_text().split()]
        rows, _ = read_csv(self.p("index", "casme2-faces.csv"))
        label = {sample_id(r): r["label"] for r in rows}
        picked, seen = [], set()
        for sid in test_ids:
            if label.get(sid) not in seen:
                seen.add(label.get(sid))
                picked.append(sid)
        picked = picked[:self.config.figure_samples]
        call(visualize_command, ["--net", "resnet10",
                           "--weights", fold_dirs["resnet10"] / layout.FINAL_NAME,
                           "--net2", "micro_attention",
                           "--weights2", fold_dirs["micro_attention"] / layout.FINAL_NAME,
                           "--faces", self.p("faces", "casme2"), "--samples"] + picked
             + ["--labels", self.p("index", "casme2-faces.csv"),
                "--out", self.p("figure4")])
        self.stack([self.p("figure4", visualize_command.safe_name(s) + ".png") for s in picked],
                   self.p("figure4.png"))
        return {"fold": fold, "samples": picked, "scores": self.region_scores()}

    def stage_model(self):
        """The micro-attention net of the first LOSO fold as OUT/model, for predict."""
        fold = self.loso_folds()[0][0]
        export.export_model(self.p("runs"), "loso", "micro_attention", self.p("model"), fold=fold)
        return {"fold": fold, "model": str(self.p("model"))}

    @staticmethod
    def stack(pngs, out, width=1200, colours=256):
        """The faces' pictures one below the other, scaled to `width` and
        reduced to a palette (a few hundred KB instead of a few MB)."""
        import cv2  # lazy: keeps --help fast
        images = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in pngs]
        widest = max(i.shape[1] for i in images)
        padded = [cv2.copyMakeBorder(i, 0, 0, 0, widest - i.shape[1], cv2.BORDER_CONSTANT,
                                     value=(255, 255, 255)) for i in images]
        picture = np.vstack(padded)
        if widest > width:
            height = int(round(picture.shape[0] * width / float(widest)))
            picture = cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA)
        image = Image.fromarray(picture[:, :, ::-1].copy()).quantize(colors=colours)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        files.atomic_write(out, buffer.getvalue())

    def region_scores(self):
        """Mean AU-region score and lift per net and map, over the pictured faces."""
        rows, _ = read_csv(self.p("figure4", "scores.csv"))
        sums = collections.OrderedDict()
        for r in rows:
            if r["score"] in ("", None):
                continue
            key = "%s %s" % (r["net"], r["map"])
            s = sums.setdefault(key, [0.0, 0.0, 0])
            s[0] += float(r["score"])
            s[1] += float(r["lift"])
            s[2] += 1
        return collections.OrderedDict(
            (k, collections.OrderedDict([("score", round(v[0] / v[2], 4)),
                                         ("lift", round(v[1] / v[2], 4)), ("faces", v[2])]))
            for k, v in sums.items())

