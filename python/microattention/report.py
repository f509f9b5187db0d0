"""Report of one or more runs beside the paper's tables: report.md and a
self-contained report.html (figures inline), plus the figures as PNG files.

  report RUN_DIR... [--out DIR] [--index INDEX.csv]...

RUN_DIR is a run folder as the `run` and `train-fold` commands write it,
RUN/<protocol>/<net>/ holding one folder per fold (RUN/<protocol>/ or RUN/
itself are expanded to the net folders under them). Per fold the report
reads (see microattention.training):

  settings.json    protocol, net, fold, seed, epochs, input checksums
                   (written when the fold starts)
  done.json        written last: the fold is finished
  predictions.csv  test predictions (microattention.metrics' format)
  provenance.json  protocol table used, schedule, caffe version, checksums
  solver.prototxt  the solver caffe ran (base_lr, momentum, decay, gamma)
  caffe.log        caffe's output (learning curves)
and RUN/<protocol>/<net>/metrics.json, whose folds_pooled lists every fold
of the run once `run` has pooled them.

What it gives: the paper's table of the protocol with the runs as extra rows
marked "this run" (HDE: Table 2; CDE: Tables 4 and 5; LOSO: Table 6;
pretrain: the paper's validation accuracy); one side-by-side table of the
runs (WAR, UAR, F1 (MEGC 2018), UF1 (MEGC 2019)); every protocol setting of
each run beside the protocol table, project choices marked and any difference
flagged as NOT the paper's setup; per-fold metrics; the confusion matrix;
learning curves; provenance. The paper's F1 of Table 4 is the pooled UF1
(MEGC 2019 definition, see docs/paper-setup.md section 5), so UF1 is the
figure put beside it; the MEGC 2018 F1 is printed too.

Metrics pool the predictions of the finished folds only. A run whose folds
are not all finished is reported as "k of n folds done" and every number of
it is marked PARTIAL. The number of folds n comes from metrics.json when
`run` pooled the run, else from the run's index (the path recorded in
provenance.json, or --index) split as the folds command splits it; without
either it is unknown and the run is reported as partial.

The output is the same bytes for the same runs, apart from the line that
says when the report was made.
"""
import argparse
import base64
import collections
import datetime
import functools
import html
import io
import os
import pathlib
import platform
import re
import subprocess
import tempfile

from microattention import files, metrics, paper, protocols
from microattention.errors import UserError

METRIC_NAMES = collections.OrderedDict([
    ("war", "WAR"), ("uar", "UAR"), ("f1_megc2018", "F1 (MEGC 2018)"),
    ("uf1_megc2019", "UF1 (MEGC 2019)")])
NET_LABELS = {"resnet10": paper.METHODS["resnet10"],
              "complex_attention": paper.METHODS["complex_attention"],
              "micro_attention": paper.METHODS["micro_attention"]}
PAPER_TABLE = {"hde": "Table 2", "cde": "Tables 4 and 5", "loso": "Table 6",
               "pretrain": "section 4.1/4.2 (pre-training validation accuracy)"}
CURVES_PER_FOLD_UP_TO = 4   # more folds: one small-multiples figure per run
STAMP_PREFIX = "Report made "

# ------------------------------------------------------------------ reading runs


def _read_json(path):
    from microattention import training
    return training.read_json(path)


def _is_fold_dir(path):
    return (path / "settings.json").is_file() or (path / "done.json").is_file()


def _net_dirs(path, depth=0):
    """The run folders (holding fold folders) at or under `path`, at most
    two levels down (RUN/<protocol>/<net>)."""
    children = sorted((c for c in path.iterdir() if c.is_dir() and not c.name.startswith(".")),
                      key=lambda c: c.name)
    if any(_is_fold_dir(c) for c in children):
        return [path]
    if depth >= 2:
        return []
    found = []
    for child in children:
        found.extend(_net_dirs(child, depth + 1))
    return found


class Fold:
    def __init__(self, path):
        self.path = path
        self.id = path.name
        self.settings = _read_json(path / "settings.json")
        self.done = _read_json(path / "done.json")
        if self.settings is None and self.done is not None:
            self.settings = self.done.get("settings")
        if not isinstance(self.settings, dict) or "protocol" not in self.settings:
            raise UserError("%s: settings.json lacks the fold's settings (protocol, net, seed, "
                            "epochs); is it a fold folder of the run command?" % path)
        self.provenance = _read_json(path / "provenance.json") if self.done else None
        if self.done is not None and not (path / "predictions.csv").is_file():
            raise UserError("%s has done.json but no predictions.csv; remove done.json and "
                            "run the fold again" % path)


class Run:
    """One run folder: RUN/<protocol>/<net>/ and its fold folders."""

    def __init__(self, path, folds, indexes=None, part=None):
        self.path = path
        self.folds = folds
        self.part = part     # which index of a folder holding several (LOSO per database)
        first = self.folds[0].settings
        self.protocol, self.net = first.get("protocol"), first.get("net")
        protocols.get(self.protocol)
        for key in ("protocol", "net", "seed", "epochs", "index_sha256", "faces_csv_sha256",
                    "weights_sha256"):
            values = collections.OrderedDict()
            for fold in self.folds:
                values.setdefault(fold.settings.get(key), []).append(fold.id)
            if len(values) > 1:
                raise UserError("run %s mixes settings: %s %s; a report pools one configuration, "
                                "give each configuration its own --run-dir" % (
                                    path, key, "; ".join("%s in fold(s) %s" % (
                                        v, ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else ""))
                                        for v, ids in values.items())))
        for fold in self.folds:
            if fold.settings.get("fold") not in (None, fold.id):
                raise UserError("%s: its settings.json belongs to fold %s" % (
                    fold.path, fold.settings.get("fold")))
        self.settings = first
        self.index_used = None
        self.expected, self.expected_source = self._expected(indexes or {})
        self.done_folds = [f for f in self.folds if f.done is not None]
        self.complete = (self.expected is not None
                         and set(self.expected) <= {f.id for f in self.done_folds})
        self.result = None
        self.classes = None
        if self.done_folds:
            self._evaluate()

    def _expected(self, indexes):
        """(fold ids, where they come from), or (None, why unknown).
        indexes: {sha256: path} of the --index files."""
        from microattention import training
        if self.protocol == "pretrain":
            return [training.PRETRAIN_FOLD], "the pre-training run has one fold"
        pooled = _read_json(self.path / "metrics.json")
        ids = {f.id for f in self.folds}
        # a folder may hold the folds of several indexes (LOSO on each database
        # with one --run-dir): the pooled list counts only when it is this one's
        if pooled and pooled.get("folds_pooled") and set(pooled["folds_pooled"]) >= ids:
            return list(pooled["folds_pooled"]), "metrics.json (pooled by the run command)"
        wanted = self.settings.get("index_sha256")
        candidates = []
        if wanted in indexes:
            candidates.append((indexes[wanted], "--index"))
        for fold in self.folds:
            recorded = ((fold.provenance or {}).get("inputs") or {}).get("index")
            if recorded:
                candidates.append((pathlib.Path(recorded), "the index recorded in provenance.json"))
                break
        for candidate, how in candidates:
            if candidate.is_file() and files.sha256(candidate) == wanted:
                self.index_used = candidate
                ids = [f["fold"] for f in training.fold_list(candidate, self.protocol)]
                return ids, "%s (%s) split into %s folds" % (how, candidate, self.protocol)
        return None, ("no source: the run is not pooled (no metrics.json) and its index is "
                      "not readable here; give --index")

    def _evaluate(self):
        rows = []
        for fold in self.done_folds:
            path = fold.path / "predictions.csv"
            fold_rows, names = metrics.read_predictions(path)
            if self.classes is None:
                self.classes = names
            elif names != self.classes:
                raise UserError("%s names the classes %s, other folds of the run %s" % (
                    path, ", ".join(names), ", ".join(self.classes)))
            for row in fold_rows:
                if row["fold"] != fold.id:
                    raise UserError("%s: %s has fold %r, not the folder's %s" % (
                        path, row.pop("_where"), row["fold"], fold.id))
                row.pop("_where", None)
            rows.extend(fold_rows)
        self.result = metrics.evaluate(rows, self.classes, per_fold=True)
        self.rows = rows

    # -- derived facts

    @property
    def n_expected(self):
        return len(self.expected) if self.expected is not None else None

    def status(self):
        k = len(self.done_folds)
        if self.expected is None:
            return "%d of ? folds done (total unknown) - PARTIAL" % k
        if self.complete:
            return "%d of %d folds done" % (len(self.expected), len(self.expected))
        return "%d of %d folds done - PARTIAL" % (
            len({f.id for f in self.done_folds} & set(self.expected)), len(self.expected))

    def datasets(self):
        """The databases of the test samples (sample ids dataset/subject/...)."""
        if self.done_folds:
            return sorted({r["sample_id"].split("/")[0] for r in self.rows})
        return sorted({f.id.split("_")[0] for f in self.folds})

    def fold_metrics(self, fold_id):
        for entry in (self.result or {}).get("folds", []):
            if entry["fold"] == fold_id:
                return entry
        return None


def _index_files(index):
    """{sha256: path} of the --index file(s)."""
    if index is None:
        return {}
    out = {}
    for given in [index] if isinstance(index, (str, os.PathLike)) else index:
        path = pathlib.Path(given)
        if not path.is_file():
            raise UserError("--index %s: no such file" % given)
        out[files.sha256(path)] = path
    return out


def load_runs(paths, index=None):
    indexes = _index_files(index)
    runs, seen = [], {}
    for given in paths:
        path = pathlib.Path(given)
        if not path.exists():
            raise UserError("run folder %s does not exist" % given)
        if not path.is_dir():
            raise UserError("%s is a file, not a run folder (give RUN/<protocol>/<net>)" % given)
        found = [path] if _is_fold_dir(path) else _net_dirs(path)
        if _is_fold_dir(path):
            raise UserError("%s is one fold's folder; give the run folder above it (%s)"
                            % (given, path.parent))
        if not found:
            raise UserError("%s is not a run folder: no fold folder (with settings.json or "
                            "done.json) in it or in RUN/<protocol>/<net> below it" % given)
        for net_dir in found:
            real = os.path.realpath(str(net_dir))
            if real in seen:
                raise UserError("run folder %s is given twice (%s and %s)"
                                % (net_dir, seen[real], given))
            seen[real] = given
            folds = [Fold(c) for c in sorted(net_dir.iterdir(), key=lambda c: c.name)
                     if c.is_dir() and _is_fold_dir(c)]
            groups = collections.OrderedDict()
            for fold in folds:
                groups.setdefault(fold.settings.get("index_sha256"), []).append(fold)
            for members in groups.values():
                part = None
                if len(groups) > 1:
                    part = "index %s..." % str(members[0].settings.get("index_sha256"))[:12]
                runs.append(Run(net_dir, members, indexes, part))
    trained_on = {r.settings.get("index_sha256") for r in runs}
    for sha, path in indexes.items():
        if sha not in trained_on:
            raise UserError("--index %s is not the index of any of the runs (its sha256 differs "
                            "from their settings.json's index_sha256)" % path)
    names = collections.OrderedDict()
    for run in runs:
        names.setdefault(run.protocol, []).append(str(run.path))
    if len(names) > 1:
        raise UserError("the runs are of different protocols (%s); one report compares runs of "
                        "one protocol" % "; ".join("%s: %s" % (p, ", ".join(v))
                                                    for p, v in names.items()))
    _label_runs(runs)
    return runs


def _label_runs(runs):
    counts = collections.Counter(r.net for r in runs)
    for r in runs:
        label = NET_LABELS.get(r.net, r.net)
        where = _short_path(r.path)
        if r.part:
            where += ", " + "+".join(r.datasets())
        if counts[r.net] > 1:
            label += " [%s]" % where
        r.label = label
        r.slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", "%s-%s" % (r.net, where)).strip("-")
    slugs = collections.Counter(r.slug for r in runs)
    for i, r in enumerate(runs):
        if slugs[r.slug] > 1:
            r.slug += "-%d" % (i + 1)


def _short_path(path):
    parts = pathlib.Path(path).parts
    return "/".join(parts[-3:])


# ------------------------------------------------------------------ document model
# A list of blocks rendered both to Markdown and to HTML:
#   ("h", level, text) ("p", text) ("warn", text) ("table", header, rows)
#   ("img", file name, caption, png bytes) ("list", items)
# Text may hold **bold** and `code`.


def _md_cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks):
    out = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out.append("#" * block[1] + " " + block[2])
        elif kind == "p":
            out.append(block[1])
        elif kind == "warn":
            out.append("> **WARNING:** " + block[1])
        elif kind == "list":
            out.append("\n".join("- " + item for item in block[1]))
        elif kind == "table":
            header, rows = block[1], block[2]
            lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
                     "|" + "|".join("---" for _ in header) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            out.append("\n".join(lines))
        elif kind == "img":
            out.append("![%s](%s)\n\n*%s*" % (block[2], block[1], block[2]))
        out.append("")
    return "\n".join(out)


def _inline_html(text):
    text = html.escape(str(text), quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
    return text


CSS = """
body { font-family: sans-serif; max-width: 80em; margin: 1em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1, h2, h3 { color: #123; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: right; }
th { background: #eef; }
td:first-child, th:first-child { text-align: left; }
tr.ours td { background: #fff6d8; font-weight: bold; }
.warn { background: #fdd; border: 2px solid #c00; padding: 0.5em; font-weight: bold; }
figure { margin: 0.8em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
code { background: #f3f3f3; padding: 0 0.2em; }
""".strip()


def to_html(blocks, title):
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           "<title>%s</title>" % html.escape(title), "<style>", CSS, "</style>", "</head>",
           "<body>"]
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out.append("<h%d>%s</h%d>" % (block[1], _inline_html(block[2]), block[1]))
        elif kind == "p":
            out.append("<p>%s</p>" % _inline_html(block[1]))
        elif kind == "warn":
            out.append('<p class="warn">WARNING: %s</p>' % _inline_html(block[1]))
        elif kind == "list":
            out.append("<ul>%s</ul>" % "".join("<li>%s</li>" % _inline_html(i)
                                               for i in block[1]))
        elif kind == "table":
            header, rows = block[1], block[2]
            out.append("<table>")
            out.append("<tr>%s</tr>" % "".join("<th>%s</th>" % _inline_html(h) for h in header))
            for row in rows:
                ours = "this run" in str(row[0])
                out.append('<tr%s>%s</tr>' % (' class="ours"' if ours else "", "".join(
                    "<td>%s</td>" % _inline_html(c) for c in row)))
            out.append("</table>")
        elif kind == "img":
            data = base64.b64encode(block[3]).decode("ascii")
            out.append('<figure><img alt="%s" src="data:image/png;base64,%s">'
                       "<figcaption>%s</figcaption></figure>"
                       % (html.escape(block[2]), data, _inline_html(block[2])))
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


# ------------------------------------------------------------------ formatting


def _f3(value):
    return "–" if value is None else "%.3f" % value


def _ours_label(run):
    text = "%s, this run" % run.label
    if not run.complete:
        text += " (PARTIAL: %s)" % run.status().split(" - ")[0]
    return text


def _number(x):
    """Rates as the paper prints them (1e-4), other numbers plainly."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return "%d" % x
    if isinstance(x, float):
        if x != 0 and abs(x) < 0.1:
            mantissa, exponent = ("%.0e" % x).split("e")
            short = "%se%d" % (mantissa, int(exponent))
            return short if float(short) == x else repr(x)
        return "%g" % x
    return str(x)


# ------------------------------------------------------------------ paper tables


def section_hde(runs):
    """Table 2: WAR and UAR per test database."""
    tests = ("samm", "casme2")
    header = ["method"] + ["%s, test %s" % (m, paper.DATASET_LABELS[t])
                           for m in ("WAR", "UAR") for t in tests]
    rows = []
    for key, values in paper.TABLE2.items():
        rows.append([paper.METHODS[key]] + [_f3(values[t][m]) for m in ("war", "uar")
                                            for t in tests])
    for run in runs:
        by_test = {}
        for fold in run.folds:
            test = fold.id.split("-to-")[-1]
            by_test[test] = run.fold_metrics(fold.id)
        cells = []
        for m in ("war", "uar"):
            for t in tests:
                entry = by_test.get(t)
                cells.append(_f3(entry[m]) if entry else "not done")
        rows.append([_ours_label(run)] + cells)
    return [("h", 2, "Table 2 (HDE): WAR and UAR per test database"),
            ("p", "Each column names the *test* database; the other one is the training set. "
                  "Rows marked \"this run\" are ours (fold `casme2-to-samm` tests SAMM, "
                  "`samm-to-casme2` tests CASME II); the others are the paper's, as printed."),
            ("table", header, rows)]


def section_cde(runs):
    header = ["method", "accuracy (WAR)", "F1 (paper) / UF1, MEGC 2019 (ours)",
              "F1, MEGC 2018 (ours only)", "UAR (ours only)"]
    rows = [[paper.METHODS[k], _f3(v["accuracy"]), _f3(v["f1"]), "", ""]
            for k, v in paper.TABLE4.items()]
    for run in runs:
        p = run.result["pooled"] if run.result else None
        rows.append([_ours_label(run)] + ([_f3(p["war"]), _f3(p["uf1_megc2019"]),
                                           _f3(p["f1_megc2018"]), _f3(p["uar"])]
                                          if p else ["not done"] * 4))
    blocks = [("h", 2, "Table 4 (CDE): accuracy and F1"),
              ("p", "The paper's F1 of Table 4 equals the pooled UF1 (MEGC 2019 definition) "
                    "of its Table 5 confusion matrix, not the MEGC 2018 F1 (see "
                    "docs/paper-setup.md, section 5): our UF1 (MEGC 2019) stands beside it; "
                    "our F1 (MEGC 2018) is given in its own column. All pooled over the "
                    "folds' predictions."),
              ("table", header, rows),
              ("h", 2, "Table 5 (CDE): confusion matrix, percent of each true class")]
    names = list(paper.CLASSES)
    table5 = [list(r) for r in paper.TABLE5]
    blocks.append(("p", "The paper's Table 5 (micro-attention), as printed; rows true class, "
                        "columns predicted:"))
    blocks.append(("table", ["true \\ predicted"] + names,
                   [[names[i]] + ["%.2f" % v for v in table5[i]] for i in range(len(names))]))
    for run in runs:
        if not run.result:
            blocks.append(("p", "%s: no finished fold, no confusion matrix." % _ours_label(run)))
            continue
        ours = run.result["pooled"]["confusion_percent"]
        counts = run.result["pooled"]["confusion"]
        if sorted(run.classes) != sorted(names):
            blocks.append(("p", "%s: classes %s are not Table 5's; no side-by-side."
                           % (_ours_label(run), ", ".join(run.classes))))
            continue
        order = [run.classes.index(n) for n in names]
        rows = []
        for i, name in enumerate(names):
            cells = []
            for j in range(len(names)):
                value = ours[order[i]][order[j]]
                mine = "–" if value != value else "%.2f" % value
                cells.append("%s (%.2f)" % (mine, table5[i][j]))
            rows.append([name] + cells + [str(sum(counts[order[i]]))])
        blocks.append(("p", "%s: ours (paper's Table 5 in brackets%s); the last column is "
                            "our number of test samples of the class." % (
                                _ours_label(run), "" if run.net == "micro_attention"
                                else "; Table 5 is the paper's micro-attention net, not %s"
                                % run.net)))
        blocks.append(("table", ["true \\ predicted"] + names + ["samples"], rows))
    return blocks


def section_loso(runs):
    dbs = ("samm", "casme2", "smic")
    header = ["method"]
    for d in dbs:
        header += ["%s accuracy" % paper.DATASET_LABELS[d],
                   "%s F1 (paper) / UF1 (ours)" % paper.DATASET_LABELS[d]]
    rows = [[paper.METHODS[k]] + [_f3(v[d][m]) for d in dbs for m in ("accuracy", "f1")]
            for k, v in paper.TABLE6.items()]
    # one row per net; runs of one net on different databases share it
    ours = []   # [label, {db: run}]
    other = []
    for run in runs:
        found = run.datasets()
        db = found[0] if len(found) == 1 and found[0] in dbs else None
        if db is None:
            other.append((run, found))
            continue
        for entry in ours:
            if entry[0] == run.net and db not in entry[1]:
                entry[1][db] = run
                break
        else:
            ours.append([run.net, {db: run}])
    nets_seen = collections.Counter(net for net, _ in ours)
    sources = []
    for number, (net, by_db) in enumerate(ours, start=1):
        members = list(by_db.values())
        label = NET_LABELS.get(net, net)
        if nets_seen[net] > 1:
            label += " (%d)" % number
        sources.append("%s: %s" % (label, "; ".join(
            "%s from `%s`" % (paper.DATASET_LABELS.get(d, d), r.path) for d, r in by_db.items())))
        partial = [r for r in members if not r.complete]
        label += ", this run"
        if partial:
            label += " (PARTIAL: %s)" % "; ".join(
                "%s %s" % (paper.DATASET_LABELS.get(d, d), r.status().split(" - ")[0])
                for d, r in by_db.items() if not r.complete)
        cells = []
        for d in dbs:
            r = by_db.get(d)
            p = r.result["pooled"] if r is not None and r.result else None
            cells += [_f3(p["war"]), _f3(p["uf1_megc2019"])] if p else (
                ["not run", "not run"] if r is None else ["not done", "not done"])
        rows.append([label] + cells)
    blocks = [("h", 2, "Table 6 (LOSO): accuracy and F1 per database"),
              ("p", "Leave one subject out on each database alone, pooled over the folds. "
                    "Beside the paper's F1 stands our UF1 (MEGC 2019), the definition that "
                    "reproduces Table 4 (docs/paper-setup.md, section 5); our F1 (MEGC 2018) "
                    "is in the side-by-side table of the runs."),
              ("table", header, rows),
              ("list", ["rows \"this run\": " + text for text in sources])]
    for run, found in other:
        blocks.append(("p", "%s tests %s, not one of the paper's databases; it is in the "
                            "side-by-side table only." % (run.label, ", ".join(found))))
    return blocks


def section_pretrain(runs):
    rows = [["paper (section 4.2)", "%.2f %%" % (100 * paper.PRETRAIN_VALIDATION_ACCURACY), ""]]
    for run in runs:
        p = run.result["pooled"] if run.result else None
        rows.append([_ours_label(run), "%.2f %%" % (100 * p["war"]) if p else "not done",
                     str(p["samples"]) if p else ""])
    return [("h", 2, "Pre-training: validation accuracy"),
            ("p", "Accuracy of the ResNet-10 without attention on the held-out tenth of the "
                  "macro-expression images, five classes."),
            ("table", ["", "validation accuracy", "held-out images"], rows)]


SECTIONS = {"hde": section_hde, "cde": section_cde, "loso": section_loso,
            "pretrain": section_pretrain}


# ------------------------------------------------------------------ side by side


def section_runs(runs):
    header = ["run", "net", "folder", "folds", "test samples"] + list(METRIC_NAMES.values()) \
        + ["epochs", "seed"]
    rows = []
    for run in runs:
        p = run.result["pooled"] if run.result else None
        rows.append([_ours_label(run), "`%s`" % run.net, str(run.path), run.status(),
                     str(p["samples"]) if p else "0"]
                    + [_f3(p[k]) if p else "not done" for k in METRIC_NAMES]
                    + [str(run.settings.get("epochs")), str(run.settings.get("seed"))])
    return [("h", 2, "The runs side by side"),
            ("p", "Pooled over the finished folds' predictions (one confusion matrix per "
                  "run). WAR is the paper's accuracy; F1 (MEGC 2018) = 2PR/(P+R) of the "
                  "macro precision and recall; UF1 (MEGC 2019) = mean of per-class "
                  "2TP/(2TP+FP+FN), the F1 the paper's tables match."),
            ("table", header, rows)]


# ------------------------------------------------------------------ setup vs paper

_SOLVER_FIELD = re.compile(r"^\s*(base_lr|momentum|weight_decay|gamma|stepsize|max_iter|"
                           r"lr_policy|random_seed)\s*:\s*\"?([^\"\s#]+)", re.M)
AUG_FIELDS = collections.OrderedDict([
    ("colour_shift", "augmentation: colour shift (max)"),
    ("rotation", "augmentation: rotation (max degrees)"),
    ("smoothing", "augmentation: smoothing window (max)"),
    ("corner_crops", "augmentation: 4 corner crops"),
    ("p", "augmentation: probability of each")])
SETTINGS = collections.OrderedDict([
    ("net", "net trained"),
    ("batch", "batch (train)"),
    ("test_batch", "batch (test)"),
    ("base_lr", "base lr"),
    ("momentum", "momentum"),
    ("weight_decay", "weight decay"),
    ("step_epochs", "lr step (epochs)"),
    ("gamma", "lr factor per step"),
    ("total_epochs", "epochs in all"),
])
for _k, _v in AUG_FIELDS.items():
    SETTINGS["aug." + _k] = _v
SETTINGS["resample"] = "classes resampled to the largest"


def _solver_values(path):
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    out = {}
    for key, value in _SOLVER_FIELD.findall(text):
        try:
            out[key] = int(value) if re.match(r"^-?\d+$", value) else float(value)
        except ValueError:
            out[key] = value
    return out


def _paper_value(p, field):
    if field.startswith("aug."):
        return getattr(p.augmentation, field[4:])
    return getattr(p, field)


def _run_values(run):
    """field -> [(value, fold ids)] of what the run's folds used; None when
    nothing of the run records it yet."""
    seen = collections.OrderedDict((f, collections.OrderedDict()) for f in SETTINGS)

    def note(field, value, fold):
        if isinstance(value, list):
            value = tuple(value)
        seen[field].setdefault(value, []).append(fold)

    for fold in run.folds:
        note("net", fold.settings.get("net"), fold.id)
        note("total_epochs", fold.settings.get("epochs"), fold.id)
        prov = fold.provenance
        if not prov:
            continue
        table = prov.get("protocol_table") or {}
        schedule = prov.get("schedule") or {}
        solver = _solver_values(fold.path / "solver.prototxt")
        for field in ("batch", "test_batch"):
            value = schedule.get(field, table.get(field))
            if value is not None:
                note(field, value, fold.id)
        for field in ("base_lr", "momentum", "weight_decay", "gamma"):
            value = solver.get(field, table.get(field))
            if value is not None:
                note(field, value, fold.id)
        per_epoch = schedule.get("iterations_per_epoch")
        if solver.get("stepsize") and per_epoch:
            note("step_epochs", solver["stepsize"] / float(per_epoch), fold.id)
        elif table.get("step_epochs") is not None:
            note("step_epochs", table["step_epochs"], fold.id)
        aug = table.get("augmentation") or {}
        for key in AUG_FIELDS:
            if key in aug:
                note("aug." + key, aug[key], fold.id)
        if "resample" in table:
            note("resample", table["resample"], fold.id)
    return seen


def _same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
    return a == b


def section_setup(runs):
    protocol = runs[0].protocol
    p = protocols.PROTOCOLS[protocol]
    choices = {field: why for (name, field), why in protocols.CHOICES.items()
               if name == protocol}
    header = ["setting", "paper (protocol table, %s)" % p.section] \
        + ["%s" % r.label for r in runs] + ["project choice (protocols.CHOICES)"]
    rows, loud = [], []
    for field, label in SETTINGS.items():
        expected = _paper_value(p, field)
        choice_key = "augmentation" if field.startswith("aug.") else field
        why = choices.get(choice_key, "")
        cells = []
        for run in runs:
            values = _run_values(run)[field]
            if not values:
                cells.append("not recorded yet (no finished fold)")
                continue
            parts = []
            for value, folds in values.items():
                value_text = _number(value)
                if len(values) > 1:
                    value_text += " (folds %s)" % ", ".join(folds[:4]) + (
                        ", ..." if len(folds) > 4 else "")
                if field == "net":
                    if value != expected and protocol == "pretrain":
                        value_text += " - **NOT the paper's setup**"
                        loud.append("%s: pre-training trained `%s`, the paper pre-trains `%s`"
                                    % (run.label, value, expected))
                    elif value != expected:
                        value_text += " (the paper trains this net with the same protocol)"
                elif not _same(value, expected):
                    value_text += " - **NOT the paper's setup**"
                    loud.append("%s: %s is %s, the protocol table says %s" % (
                        run.label, label, _number(value), _number(expected)))
                parts.append(value_text)
            cells.append("; ".join(parts))
        reason = "† " + why if why else ""
        if why and choice_key == "augmentation" and field != "aug.colour_shift":
            reason = "† (augmentation: see above)"
        rows.append([label, _number(expected) + (" †" if why else "")] + cells + [reason])
    blocks = [("h", 2, "Setup: this run versus the paper")]
    for text in loud:
        blocks.append(("warn", "%s. This run is NOT the paper's setup; its numbers are not a "
                               "reproduction of %s." % (text, PAPER_TABLE[protocol])))
    blocks += [
        ("p", "Every setting of the `%s` protocol from `microattention.protocols` (PROTOCOLS, "
              "CHOICES), the source docs/paper-setup.md is generated from, beside what each "
              "run used (its settings.json, provenance.json and solver.prototxt). † marks a "
              "project choice: the paper does not give the value (or prints it garbled); the "
              "reason is in the last column." % protocol),
        ("table", header, rows)]
    other = [why for (name, field), why in protocols.CHOICES.items() if name == protocol
             and field not in SETTINGS and field != "augmentation"]
    if other:
        blocks.append(("list", ["project choice: " + w for w in other]))
    blocks.append(("p", "Every fold is tested on its final snapshot after the fixed epoch "
                        "budget; no epoch is picked by looking at the test fold."))
    return blocks


# ------------------------------------------------------------------ folds, figures


def section_folds(run):
    header = ["fold", "status", "test samples"] + list(METRIC_NAMES.values())
    rows = []
    done_ids = {f.id for f in run.done_folds}
    ids = [f.id for f in run.folds]
    if run.expected is not None:
        ids = list(run.expected) + [i for i in ids if i not in run.expected]
    present = {f.id for f in run.folds}
    for fold_id in ids:
        entry = run.fold_metrics(fold_id)
        if fold_id in done_ids and entry is not None:
            rows.append([fold_id, "done", str(entry["samples"])]
                        + [_f3(entry[k]) for k in METRIC_NAMES])
        else:
            status = "not done (started)" if fold_id in present else "not started"
            if run.expected is not None and fold_id not in run.expected:
                status += "; not a fold of the run's index"
            rows.append([fold_id, status, ""] + [""] * len(METRIC_NAMES))
    if run.result:
        pooled = run.result["pooled"]
        tag = "" if run.complete else " (PARTIAL)"
        rows.append(["pooled" + tag, "", str(pooled["samples"])]
                    + [_f3(pooled[k]) for k in METRIC_NAMES])
        if len(run.result["folds"]) > 1:
            mean = run.result["fold_mean"]
            rows.append(["mean over %d folds%s" % (len(run.result["folds"]), tag), "", ""]
                        + [_f3(mean[k]) for k in METRIC_NAMES])
    return [("h", 3, "Per fold"),
            ("p", "Folds: %s (the number of folds from %s). Class means over the classes "
                  "present in each fold's true labels; the pooled row is the run's result, the "
                  "mean over folds is given for reference only." % (run.status(),
                                                                      run.expected_source)),
            ("table", header, rows)]


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    return buffer.getvalue()


def _compact(data):
    """A PNG re-encoded with a 64-colour palette (a third of the bytes for
    line plots; the HTML carries every figure inline). Deterministic: no
    dithering, median-cut palette."""
    try:
        from PIL import Image
    except ImportError:
        return data
    image = Image.open(io.BytesIO(data)).convert("RGB")
    small = image.quantize(colors=64, method=Image.MEDIANCUT, dither=Image.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data


def _curve_rows(fold):
    from microattention import caffelog
    log = fold.path / "caffe.log"
    if not log.is_file():
        return None, "no caffe.log"
    try:
        return caffelog.read_log(log), None
    except UserError as exc:
        return None, str(exc)


def figures_curves(run, tmp):
    """[(file name, caption, png bytes)] and notes for the run's learning curves."""
    from microattention import caffelog
    logs, notes = [], []
    for fold in run.folds:
        rows, problem = _curve_rows(fold)
        if rows is None:
            notes.append("fold %s: %s" % (fold.id, problem))
        else:
            logs.append((fold, rows))
    out = []
    if not logs:
        return out, notes
    if len(logs) <= CURVES_PER_FOLD_UP_TO:
        for fold, rows in logs:
            path = pathlib.Path(tmp) / "curve.png"
            caffelog.plot(rows, path, title="%s, fold %s" % (run.label, fold.id))
            name = "curves-%s-%s.png" % (run.slug, fold.id)
            out.append((name, "Learning curves of fold %s: displayed train loss, test "
                              "accuracy and learning rate against the iteration (caffe.log)."
                        % fold.id, path.read_bytes()))
        return out, notes
    out.append(("curves-%s.png" % run.slug,
                "Learning curves of the %d folds with a caffe.log: caffe's test accuracy "
                "(orange) and the displayed train loss divided by its largest value (blue, "
                "the largest in the panel title), against the iteration; dotted lines mark "
                "the learning-rate steps, the rates are in the panel titles." % len(logs),
                _small_multiples(run, logs)))
    return out, notes


def _small_multiples(run, logs):
    """One panel per fold on a shared 0..1 axis: caffe's test accuracy and the
    displayed train loss divided by the fold's largest (given in the panel
    title), learning-rate steps as dotted lines. One axis per panel and no
    tight_layout: 46 panels draw in a few seconds."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator
    n = len(logs)
    cols = 6 if n > 12 else 4
    nrows = (n + cols - 1) // cols
    height = 1.55 * nrows + 0.9
    fig, axes = plt.subplots(nrows, cols, figsize=(2.5 * cols, height), squeeze=False,
                             sharey=True)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for number, (ax, (fold, rows)) in enumerate(zip(axes.ravel(), logs)):
        def series(key):
            pts = [(r["iteration"], r[key]) for r in rows if r.get(key) is not None]
            return [a for a, _ in pts], [b for _, b in pts]
        x, y = series("loss")
        top = max((v for v in y if v == v), default=0.0)
        if x and top > 0:
            ax.plot(x, [v / top for v in y], color="tab:blue", linewidth=0.8)
        acc_key = next((k for r in rows for k in r if k.startswith("test") and "acc" in k), None)
        if acc_key:
            x, y = series(acc_key)
            ax.plot(x, y, color="tab:orange", linewidth=0.9)
        xs, lrs = series("lr")
        rates = []
        for i, (it, lr) in enumerate(zip(xs, lrs)):
            if not rates or lr != rates[-1]:
                rates.append(lr)
                if i:
                    ax.axvline(it, color="0.35", linestyle=":", linewidth=0.9)
        ax.set_title("%s: loss max %.3g\nlr %s" % (
            fold.id, top, " > ".join(_number(float(r)) for r in rates)), fontsize=6.5, pad=2)
        ax.set_ylim(-0.03, 1.03)
        ax.xaxis.set_major_locator(MaxNLocator(3, integer=True))
        ax.tick_params(labelsize=6, length=2, pad=1)
        if number % cols:
            ax.tick_params(labelleft=False)
    fig.suptitle("%s: test accuracy (orange), train loss / its maximum (blue), "
                 "against the iteration; dotted: learning-rate steps" % run.label, fontsize=8)
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.5 / height, top=1 - 0.6 / height,
                        wspace=0.08, hspace=0.75)
    data = _png(fig)
    plt.close(fig)
    return data


def figure_confusion(run, tmp):
    if not run.result:
        return None
    path = pathlib.Path(tmp) / "confusion.png"
    metrics.confusion_png(run.result["pooled"]["confusion_percent"], run.classes, path,
                          title="%s (pooled%s)" % (run.net, "" if run.complete else ", PARTIAL"))
    return ("confusion-%s.png" % run.slug,
            "Confusion matrix of %s, pooled over %s, percent of each true class (rows true)."
            % (_ours_label(run), run.status().split(" - ")[0]), path.read_bytes())


def figure_table5(tmp):
    path = pathlib.Path(tmp) / "table5.png"
    metrics.confusion_png([list(r) for r in paper.TABLE5], list(paper.CLASSES), path,
                          title="paper, Table 5 (micro-attention)")
    return ("confusion-paper-table5.png", "The paper's Table 5 (micro-attention, CDE), "
            "percent of each true class.", path.read_bytes())


# ------------------------------------------------------------------ provenance


def section_provenance(run):
    items = []
    s = run.settings
    items.append("initial weights sha256 `%s`" % s.get("weights_sha256"))
    items.append("index sha256 `%s`; faces.csv sha256 `%s`" % (s.get("index_sha256"),
                                                              s.get("faces_csv_sha256")))
    items.append("seed %s (LMDB resampling, augmentation and order; caffe random_seed per "
                 "epoch %s)" % (s.get("seed"), _distinct(run, lambda p: (p.get("schedule") or {})
                                                         .get("caffe_random_seed")) or "?"))
    for label, get in (("Caffe", lambda p: p.get("caffe_version")),
                       ("microattention", lambda p: p.get("microattention_version")),
                       ("git commit", lambda p: p.get("git_commit")),
                       ("BLAS", lambda p: p.get("blas")),
                       ("image", lambda p: p.get("image"))):
        value = _distinct(run, get)
        items.append("%s: %s" % (label, value or "not recorded by the run"))
    env = _distinct(run, lambda p: ", ".join("%s=%s" % (k, v) for k, v in
                                              (p.get("environment") or {}).items()
                                              if v is not None) or "none set")
    items.append("environment of the training: %s" % (env or "not recorded"))
    inputs = _distinct(run, lambda p: ", ".join("%s %s" % (k, v) for k, v in
                                                 (p.get("inputs") or {}).items()))
    if inputs:
        items.append("inputs: %s" % inputs)
    rows = []
    for fold in run.done_folds:
        rows.append([fold.id, str(fold.done.get("final_snapshot", "")),
                     "`%s`" % fold.done.get("final_snapshot_sha256", ""),
                     str(fold.done.get("finished", ""))])
    blocks = [("h", 3, "Provenance"), ("list", items)]
    if rows:
        blocks.append(("table", ["fold", "tested snapshot", "sha256", "finished"], rows))
    return blocks


def _distinct(run, get):
    values = []
    for fold in run.done_folds:
        value = get(fold.provenance or {})
        if isinstance(value, dict):
            value = ", ".join("%s %s" % (k, v) for k, v in value.items())
        if value and value not in values:
            values.append(str(value))
    return "; ".join(values)


def report_environment():
    """Where this report was made (the runs' own record is in their provenance)."""
    from microattention import __version__
    items = ["microattention %s, Python %s" % (__version__, platform.python_version())]
    try:
        release = dict(line.rstrip("\n").split("=", 1) for line in
                       open("/etc/os-release") if "=" in line)
        items.append("system: %s" % release.get("PRETTY_NAME", "?").strip('"'))
    except OSError:
        pass
    items.append("Caffe: %s" % _caffe_version())
    items.append("BLAS: %s" % _blas_text())
    items.append("git commit of the project: %s" % _git_commit())
    return items


@functools.lru_cache(maxsize=None)
def _caffe_version():
    try:
        from microattention import training
        return training.caffe_version()
    except UserError:
        return "no caffe on PATH"


def _blas_text():
    try:
        from microattention import blas
    except ImportError:
        blas = None
    if blas is not None and hasattr(blas, "info"):
        info = blas.info()
        return "%s, kernel %s (%s)" % (info.get("config") or "OpenBLAS (version unknown)",
                                                 info.get("corename") or "?",
                                                 getattr(blas, "kernel_source", lambda: "")())
    import ctypes
    import numpy  # noqa: F401  (loads the BLAS numpy uses)
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
    except OSError:
        return "no OpenBLAS found"
    out = []
    for name in ("openblas_get_config", "openblas_get_corename"):
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = ctypes.c_char_p
            value = fn()
            out.append(value.decode("ascii", "replace").strip() if value else "?")
    return ", kernel ".join(out) if out else "OpenBLAS (version unknown)"


def _git_commit():
    value = os.environ.get("MA_GIT_COMMIT")
    if value:
        return value
    try:
        out = subprocess.run(["git", "-C", str(files.project_root()), "rev-parse", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             universal_newlines=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown (not a git checkout here)"


# ------------------------------------------------------------------ the report


def build(runs, stamp=None):
    """{file name: bytes or text} of the report of `runs` (one protocol)."""
    protocol = runs[0].protocol
    stamp = stamp or datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z"
    title = "Run report: %s (%s)" % (protocol.upper() if protocol != "pretrain" else
                                     "pre-training", PAPER_TABLE[protocol])
    blocks = [("h", 1, title),
              ("p", STAMP_PREFIX + stamp + " by `python3 -m microattention report`."),
              ("p", "Compared with: " + paper.CITATION)]
    for run in runs:
        blocks.append(("p", "**%s**: `%s`, %s." % (run.label, run.path, run.status())))
        if not run.complete:
            blocks.append(("warn", "%s: %s. Its numbers pool only the finished folds and are "
                                   "PARTIAL, not the protocol's result (number of folds from "
                                   "%s)." % (run.label, run.status().split(" - ")[0],
                                             run.expected_source)))
    images = collections.OrderedDict()
    with tempfile.TemporaryDirectory(prefix="ma-report-") as tmp:
        blocks += SECTIONS[protocol](runs)
        if protocol == "cde":
            name, caption, data = figure_table5(tmp)
            data = images[name] = _compact(data)
            blocks.append(("img", name, caption, data))
        blocks += section_runs(runs)
        blocks += section_setup(runs)
        for run in runs:
            blocks.append(("h", 2, "Run: %s" % run.label))
            blocks.append(("p", "Folder `%s`; protocol `%s`, net `%s`; %s." % (
                run.path, run.protocol, run.net, run.status())))
            blocks += section_folds(run)
            figure = figure_confusion(run, tmp)
            if figure:
                name, caption, data = figure
                data = images[name] = _compact(data)
                blocks.append(("img", name, caption, data))
            blocks.append(("h", 3, "Learning curves"))
            curves, notes = figures_curves(run, tmp)
            for name, caption, data in curves:
                data = images[name] = _compact(data)
                blocks.append(("img", name, caption, data))
            if notes:
                blocks.append(("list", ["no curve for " + n for n in notes]))
            blocks += section_provenance(run)
    blocks += [("h", 2, "Where this report was made"), ("list", report_environment())]
    out = collections.OrderedDict()
    out["report.md"] = to_markdown(blocks)
    out["report.html"] = to_html(blocks, title)
    for name, data in images.items():
        out[name] = data
    return out


def write_report(paths, out_dir=None, index=None, stamp=None):
    runs = load_runs(paths, index)
    out_dir = pathlib.Path(out_dir or "report-%s" % runs[0].protocol)
    real_out = os.path.realpath(str(out_dir))
    for given in paths:
        if os.path.realpath(str(given)) == real_out:
            raise UserError("--out %s is an input (%s); choose another folder" % (out_dir, given))
    for run in runs:
        for folder in [run.path] + [f.path for f in run.folds]:
            real = os.path.realpath(str(folder))
            if real_out == real or real_out.startswith(real + os.sep) and folder is not run.path:
                raise UserError("--out %s is an input (%s); choose another folder"
                                % (out_dir, folder))
    inputs = [f.path / name for run in runs for f in run.folds
              for name in ("predictions.csv", "caffe.log", "settings.json", "done.json",
                           "provenance.json", "solver.prototxt")]
    content = build(runs, stamp)
    targets = collections.OrderedDict((out_dir / name, data) for name, data in content.items())
    files.check_outputs(list(targets), inputs, {t: "--out" for t in targets})
    files.write_together(targets)
    return runs, list(targets)


EXAMPLES = """\
examples:
  python3 -m microattention report runs/cde/micro_attention --out reports/cde
  python3 -m microattention report runs/cde --out reports/cde-three-nets
  python3 -m microattention report runs/loso --index casme2.csv --index samm.csv \\
      --index smic.csv --out reports/loso
"""


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR",
                        help="run folder(s) RUN/<protocol>/<net> (RUN/<protocol> or RUN are "
                             "expanded to the nets under them); all of one protocol")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="output folder for report.md, report.html and the PNGs "
                             "(default ./report-<protocol>)")
    parser.add_argument("--index", metavar="INDEX.csv", action="append", default=None,
                        help="a run's index, to count its folds when the run is not pooled "
                             "and the index recorded in provenance.json is not here; repeat "
                             "for runs on different indexes (matched by sha256)")


def run(args):
    runs, written = write_report(args.runs, args.out, args.index)
    for r in runs:
        print("%s: %s (%s)" % (r.path, r.status(), r.net))
    print("wrote %s" % ", ".join(str(p) for p in written[:2]))
    return 0
