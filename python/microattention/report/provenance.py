"""What each run recorded about how and where it was trained, and where the
report itself is made.
"""
import platform

from microattention import __version__
from microattention.train import caffe, provenance

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
                       ("image", lambda p: p.get("image")),
                       ("host", lambda p: p.get("host")),
                       ("device", lambda p: p.get("device"))):
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
    items = ["microattention %s, Python %s" % (__version__, platform.python_version())]
    try:
        release = dict(line.rstrip("\n").split("=", 1) for line in
                       open("/etc/os-release") if "=" in line)
        items.append("system: %s" % release.get("PRETTY_NAME", "?").strip('"'))
    except OSError:
        pass
    items.append("Caffe: %s" % caffe.caffe_version())
    items.append("BLAS: %s" % provenance.blas_text())
    items.append("git commit of the project: %s" % provenance.git_commit())
    return items
