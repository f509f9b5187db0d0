"""The report's figures: learning curves (one per fold, or small multiples)
and confusion matrices, as compact PNG bytes.
"""
import io
import pathlib

from microattention import metrics, paper
from microattention.errors import UserError
from microattention.report.tables import number_text, ours_label
from microattention.train import caffelog

CURVES_PER_FOLD_UP_TO = 4   # more folds: one small-multiples figure per run


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    return buffer.getvalue()


def compact_png(data):
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
    log = fold.path / "caffe.log"
    if not log.is_file():
        return None, "no caffe.log"
    try:
        return caffelog.read_log(log), None
    except UserError as exc:
        return None, str(exc)


def figures_curves(run, tmp):
    """[(file name, caption, png bytes)] and notes for the run's learning curves."""
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
    import matplotlib  # lazy: matplotlib loads slowly, only pictures need it
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # lazy: matplotlib loads slowly, only pictures need it
    # lazy: matplotlib loads slowly, only pictures need it
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
            fold.id, top, " > ".join(number_text(float(r)) for r in rates)), fontsize=6.5, pad=2)
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
            % (ours_label(run), run.status().split(" - ")[0]), path.read_bytes())


def figure_table5(tmp):
    path = pathlib.Path(tmp) / "table5.png"
    metrics.confusion_png([list(r) for r in paper.TABLE5], list(paper.CLASSES), path,
                          title="paper, Table 5 (micro-attention)")
    return ("confusion-paper-table5.png", "The paper's Table 5 (micro-attention, CDE), "
            "percent of each true class.", path.read_bytes())

