"""Testing a fold's final snapshot (step 4 of train-fold): through pycaffe
on deploy.prototxt, one test record at a time, after an optional BatchNorm
recalibration; the predictions in metrics.py's format, and what caffe's own
test net logged at the last iteration."""
import collections
import os
import pathlib

import numpy as np

from microattention import augment, lmdbs, metrics
from microattention.errors import UserError
from microattention.nets import prototxt as nets
from microattention.train import caffelog, layout


def _crop(image, test_lmdb, key):
    """The centre crop of Caffe's TEST transform (offsets rounded down)."""
    size = augment.TEST_SIZE
    if image.ndim != 2:
        raise UserError("%s record %s is not a gray image" % (test_lmdb, key))
    h, w = image.shape
    if h < size or w < size:
        raise UserError("%s record %s is %dx%d, smaller than the nets' %d input"
                        % (test_lmdb, key, h, w, size))
    top, left = (h - size) // 2, (w - size) // 2
    return image[top:top + size, left:left + size]


def predict(deploy_path, weights, test_lmdb, gpu=None):
    """[(key, label, scores)] of every record of the test LMDB, in key order,
    from the deploy net with `weights`."""
    caffe = nets.import_caffe()
    if gpu is not None:
        caffe.set_mode_gpu()
        caffe.set_device(int(gpu))
    net = caffe.Net(str(deploy_path), caffe.TEST, weights=str(weights))
    output = net.outputs[0]
    out = []
    for key, label, image in lmdbs.read_records(test_lmdb):
        net.blobs["data"].data[0, 0] = _crop(image, test_lmdb, key)
        scores = net.forward()[output][0].reshape(-1)
        out.append((key, int(label), np.array(scores, dtype=np.float32)))
    return out


def recalibrate_bn(net_path, weights, out_path, batches, seed, gpu=None):
    """Precise BatchNorm statistics (for short runs such as the demo's):
    Caffe's running mean and variance average every training batch since the
    start with weight 0.999^age, so after a few hundred iterations from
    fillers (or a few dozen after a transfer) they mix in activations of
    weights long gone, and TEST-phase outputs can collapse to one class. Here
    every BatchNorm's statistics are zeroed and gathered again by `batches`
    TRAIN-phase forward passes of the final weights (pycaffe; no update of any
    learned weight). Returns the written caffemodel (out_path)."""
    caffe = nets.import_caffe()
    if gpu is not None:
        caffe.set_mode_gpu()
        caffe.set_device(int(gpu))
    else:
        caffe.set_mode_cpu()
    caffe.set_random_seed(int(seed))          # the TRAIN transform's random crops
    net = caffe.Net(str(net_path), str(weights), caffe.TRAIN)
    layers = [name for name, layer in zip(net._layer_names, net.layers)
              if layer.type == "BatchNorm"]
    if not layers:
        raise UserError("%s has no BatchNorm layer to recalibrate" % net_path)
    for name in layers:
        for blob in net.params[name]:
            blob.data[...] = 0
    for _ in range(int(batches)):
        net.forward()
    out_path = pathlib.Path(out_path)
    tmp = out_path.with_name("." + out_path.name + ".%d" % os.getpid())
    net.save(str(tmp))
    os.replace(str(tmp), str(out_path))
    return out_path


def prediction_rows(fold_id, predictions, sidecar):
    """Rows in metrics.py's format, sample ids from the LMDB sidecar."""
    by_key = {r["key"]: r for r in sidecar["records"]}
    rows = []
    seen = set()
    for key, label, scores in predictions:
        record = by_key.get(key)
        if record is None or int(record["label"]) != label:
            raise UserError("test LMDB record %s does not match its sidecar" % key)
        if record["sample_id"] in seen:
            raise UserError("test LMDB holds sample %s twice" % record["sample_id"])
        seen.add(record["sample_id"])
        rows.append(collections.OrderedDict([
            ("fold", fold_id), ("sample_id", record["sample_id"]), ("true_label", label),
            ("predicted_label", int(scores.argmax())), ("scores", [float(s) for s in scores])]))
    return rows


def final_caffe_test(log_path, iteration):
    """Outputs of caffe's own test net at `iteration`, from the log."""
    try:
        rows = caffelog.parse_log(pathlib.Path(log_path).read_text(errors="replace"))
    except OSError:
        return {}
    for row in rows:
        if row["iteration"] == iteration:
            return collections.OrderedDict((k[len("test_"):], v) for k, v in row.items()
                                           if k.startswith("test_"))
    return {}


def evaluate_fold(fold_id, protocol, net, deploy_path, final_model, test_lmdb, sidecar, gpu,
              max_iter, log_path):
    """(prediction rows, metrics.json's content) of the final model
    on the fold's test LMDB."""
    classes = list(sidecar["classes"])
    rows = prediction_rows(fold_id, predict(deploy_path, final_model, test_lmdb, gpu), sidecar)
    if len(rows) != sidecar["count"]:
        raise UserError("fold %s: %d predictions for %d test records" % (fold_id, len(rows),
                                                                        sidecar["count"]))
    result = metrics.evaluate(rows, classes)
    fold_metrics = collections.OrderedDict([("fold", fold_id), ("protocol", protocol),
                                            ("net", net), ("classes", classes)])
    fold_metrics.update(result["pooled"])
    fold_metrics["caffe_test_net_final"] = final_caffe_test(log_path, max_iter)
    fold_metrics["tested_snapshot"] = pathlib.Path(final_model).name
    return rows, fold_metrics


def recalibrated(net_path, final_model, fold_dir, batches, seed, gpu, fold_id, log):
    """The final weights with recomputed BatchNorm statistics (see recalibrate_bn)."""
    log("fold %s: BatchNorm statistics recomputed over %d training batches"
        % (fold_id, batches))
    return recalibrate_bn(net_path, final_model, pathlib.Path(fold_dir) / layout.RECALIBRATED_NAME,
                          batches, seed, gpu)
