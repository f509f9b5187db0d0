"""What picking the best epoch on the test folds would have reported: a
figure shown beside the final-snapshot results and labelled NOT a result
(beyond the paper), so that a reader can judge numbers published that way.

Definition. Per fold, the epoch whose test accuracy, as Caffe's own test net
logged it at the end of that epoch in the fold's caffe.log (iteration k x L,
L the fold's iterations per epoch, k = 1..epochs), is the highest; the
earliest of equal ones. Pooled over the run's finished folds, weighted by
their numbers of test samples: sum(accuracy_f x n_f) / sum(n_f), a WAR (the
test net runs every test sample once, batch 1). Caffe logs the accuracy
only, not the per-class counts, so there is no UAR or F1 of it.
"""
from microattention.errors import UserError
from microattention.train import caffelog, layout

LABEL = "best test epoch (NOT a result)"
RUN_LABEL = "WAR at the best test epoch (NOT a result)"
ACCURACY = "test_accuracy"     # the Accuracy layer's top, test net #0

NOTE = ("**%s**: what picking the best epoch on the test folds would have reported, shown "
        "so that numbers published that way can be judged (beyond the paper). Per fold, the "
        "epoch whose test accuracy, as Caffe's test net logged it at the end of each epoch "
        "(caffe.log), is the highest (the earliest of equal ones); pooled over the finished "
        "folds weighted by their test samples, a WAR. Caffe logs the accuracy only, not the "
        "per-class counts, so there is no UAR or F1 of it. It chooses on the test data, so "
        "it is optimistic by construction and is NOT a result: every other figure of this "
        "report is the final snapshot's, as the protocol prescribes." % LABEL)
BN_NOTE = ("%s: its logged accuracies are of Caffe's running BatchNorm averages, while its "
           "final figures were tested with recomputed statistics; the two differ even at the "
           "last epoch.")


def epoch_accuracies(rows, per_epoch, epochs):
    """{epoch: accuracy} of caffelog rows: the test logged at each epoch's
    last iteration (a test elsewhere, e.g. of the initial weights, is no
    epoch's)."""
    out = {}
    for row in rows:
        iteration = row["iteration"]
        if ACCURACY in row and iteration > 0 and iteration % per_epoch == 0 \
                and iteration // per_epoch <= epochs:
            out[iteration // per_epoch] = row[ACCURACY]
    return out


def best(accuracies):
    """(epoch, accuracy) with the highest accuracy, the earliest of equals;
    None without any."""
    if not accuracies:
        return None
    epoch = min(accuracies, key=lambda k: (-accuracies[k], k))
    return epoch, accuracies[epoch]


def fold_best(fold):
    """(epoch, accuracy, epochs) of a finished fold (report.load.Fold), or a
    text saying why there is none."""
    schedule = (fold.provenance or {}).get("schedule") or {}
    per_epoch, epochs = schedule.get("iterations_per_epoch"), schedule.get("epochs")
    if not per_epoch or not epochs:
        return "provenance.json records no schedule"
    path = fold.path / layout.CAFFE_LOG_NAME
    if not path.is_file():
        return "no caffe.log"
    try:
        rows = caffelog.read_log(path)
    except UserError:
        return "caffe.log holds no iteration"
    found = best(epoch_accuracies(rows, int(per_epoch), int(epochs)))
    if found is None:
        return "caffe.log holds no test accuracy at an epoch's end"
    return found[0], found[1], int(epochs)


def run_best(run):
    """{"folds": {fold id: fold_best(...)}, "war": the pooled WAR or None
    when a finished fold has none} of a report.load.Run (kept on the run:
    the tables ask twice)."""
    cached = getattr(run, "best_test_epoch", None)
    if cached is not None:
        return cached
    folds, weighted, samples, complete = {}, 0.0, 0, bool(run.done_folds)
    for fold in run.done_folds:
        found = folds[fold.id] = fold_best(fold)
        entry = run.fold_metrics(fold.id)
        if isinstance(found, str) or entry is None:
            complete = False
            continue
        weighted += found[1] * entry["samples"]
        samples += entry["samples"]
    run.best_test_epoch = {"folds": folds,
                           "war": weighted / samples if complete and samples else None}
    return run.best_test_epoch


def fold_cell(run, fold_id):
    found = run_best(run)["folds"].get(fold_id)
    if found is None:
        return ""
    if isinstance(found, str):
        return "– (%s)" % found
    return "%.3f (epoch %d of %d)" % (found[1], found[0], found[2])


def war_cell(run):
    if not run.done_folds:
        return "not done"
    war = run_best(run)["war"]
    return "%.3f" % war if war is not None else "– (a fold's log lacks it)"
