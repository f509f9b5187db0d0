"""Reading run folders: the fold folders of RUN/<protocol>/<net>/, their
settings, provenance and predictions, and how many folds the protocol has.
"""
import collections
import os
import pathlib
import re

from microattention import files, metrics, paper, protocols
from microattention.errors import UserError
from microattention.train import layout, runs, selection
from microattention.train.settings import setting_text, settings_differences

NET_LABELS = {"resnet10": paper.METHODS["resnet10"],
              "complex_attention": paper.METHODS["complex_attention"],
              "micro_attention": paper.METHODS["micro_attention"]}


def _is_fold_dir(path):
    return (path / layout.SETTINGS_NAME).is_file() or (path / layout.DONE_NAME).is_file()


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
        self.settings = files.read_json(path / layout.SETTINGS_NAME)
        self.done = files.read_json(path / layout.DONE_NAME)
        if self.settings is None and self.done is not None:
            self.settings = self.done.get("settings")
        if not isinstance(self.settings, dict) or "protocol" not in self.settings:
            raise UserError("%s: settings.json lacks the fold's settings (protocol, net, seed, "
                            "epochs); is it a fold folder of the run command?" % path)
        self.provenance = files.read_json(path / layout.PROVENANCE_NAME) if self.done else None
        if self.done is not None and not (path / layout.PREDICTIONS_NAME).is_file():
            raise UserError("%s has done.json but no predictions.csv; remove done.json and "
                            "run the fold again" % path)


class Run:
    """One run folder: RUN/<protocol>/<net>/ and its fold folders."""

    def __init__(self, path, folds, indexes=None, part=None, per_fold_init=False):
        self.path = path
        self.folds = folds
        self.part = part     # which index of a folder holding several (LOSO per database)
        first = self.folds[0].settings
        self.protocol, self.net = first.get("protocol"), first.get("net")
        protocols.get(self.protocol)
        self.per_fold_init = per_fold_init and len(folds) > 1
        _check_one_configuration(path, self.folds,
                                 PER_FOLD_INIT if self.per_fold_init else ())
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
        if self.protocol == "pretrain":
            return [layout.PRETRAIN_FOLD], "the pre-training run has one fold"
        # the protocol's folds of the index, as train-fold recorded them: never
        # the list `run` happened to pool (a subset pooled is still PARTIAL)
        recorded, fold_id = runs.recorded_protocol_folds(
            ((fold.id, fold.provenance) for fold in self.folds), str(self.path))
        if recorded:
            return recorded, ("the protocol's folds of the index, recorded by "
                              "train-fold in %s/provenance.json" % fold_id)
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
                ids = [f["fold"] for f in selection.fold_list(candidate, self.protocol)]
                return ids, "%s (%s) split into %s folds" % (how, candidate, self.protocol)
        return None, ("no source: no finished fold records the protocol's folds, and the "
                      "run's index is not readable here; give --index")

    def _evaluate(self):
        rows = []
        for fold in self.done_folds:
            path = fold.path / layout.PREDICTIONS_NAME
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

    def scaled(self):
        """(epochs trained, the protocol's epochs) when a run trained fewer
        epochs than its protocol says (reproduce --scale, run --epochs), else None."""
        changes = self.settings.get("protocol_changes") or {}
        total = changes.get("total_epochs", protocols.get(self.protocol).total_epochs)
        epochs = self.settings.get("epochs")
        return (epochs, total) if isinstance(epochs, int) and epochs < total else None

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


def _check_one_configuration(path, folds, per_fold=()):
    """Every fold of a run trained with the same settings, compared as
    train-fold compares them before it skips or resumes a fold (keys on
    either side; only the fold id may differ, and with per_fold =
    PER_FOLD_INIT, asked for by the caller, the seed and start weights)."""
    first = folds[0].settings
    keys = collections.OrderedDict()
    for fold in folds[1:]:
        for text in settings_differences(first, fold.settings, ignore=("fold",) + per_fold):
            keys[text.split(" ", 1)[0]] = True
    for key in keys:
        values = collections.OrderedDict()
        for fold in folds:
            value = setting_text(fold.settings.get(key))
            values.setdefault(value, []).append(fold.id)
        raise UserError("run %s mixes settings: %s %s; a report pools one configuration, "
                        "give each configuration its own --run-dir" % (
                            path, key, "; ".join("%s in fold(s) %s" % (
                                v, ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else ""))
                                for v, ids in values.items())))


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


# Settings a run may vary from fold to fold when its maker gave each fold its
# own initialisation on purpose (the attention experiment: a seed per fold and
# the attention units drawn from it); the report then says so.
PER_FOLD_INIT = ("seed", "weights_sha256")


def load_runs(paths, index=None, per_fold_init=False):
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
                runs.append(Run(net_dir, members, indexes, part, per_fold_init))
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

