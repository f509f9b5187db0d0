"""The three networks: where their committed prototxt live, and rendering them
with a given class count, batch size, input size/channels or LMDB sources.

The committed train_val files read the LMDBs at paths relative to the project
root (caffe resolves them against its working directory), so that
`caffe train` run from the project root works in a checkout and in the image,
where /opt/micro-attention/workspace is a link to /workspace.

The committed files under prototxt/<net>/ are parsed with caffe_pb2 and
google.protobuf.text_format and only the named fields are changed, so layer
names, wiring and fillers always stay those of the committed files. Needs
Caffe's Python protobuf module (python3-caffe) but not a Caffe Net.
"""
import importlib
import os
import sys
import tempfile

import numpy as np

from microattention import augment, files, protocols
from microattention.errors import UserError

NETS = ("resnet10", "micro_attention", "complex_attention")
BASELINE = "resnet10"
CLASSIFIER = "classifier-Expressions"
STAGES = (64, 128, 256, 512)
DEFAULT_TRAIN_SOURCE = "workspace/lmdb/train"
DEFAULT_TEST_SOURCE = "workspace/lmdb/test"
# prototxt/<net>/train_val.prototxt carries this protocol's batch sizes (the
# fine-tuning batch of the paper's LOSO and HDE); a protocol with other batch
# sizes gets a train_val_<protocol>.prototxt of its own net.
DEFAULT_PROTOCOL = "loso"
# Layers that exist only in one of train_val / deploy.
DATA_TYPES = ("Data", "Input", "ImageData", "DummyData")
HEAD_TYPES = ("SoftmaxWithLoss", "Accuracy", "Softmax")
# The nets halve the input five times (conv1, pool, stages 128-512), so 32
# reaches 1x1 before the global pooling; below 3 Caffe aborts on an empty blob.
MIN_SIZE = 32
# Caffe counts a blob's values in an int and aborts the process beyond it.
MAX_BLOB = 2 ** 31 - 1


def project_root():
    """The directory holding prototxt/ (the checkout or /opt/micro-attention)."""
    return str(files.project_root())


def prototxt_path(net, kind="deploy"):
    if net not in NETS:
        raise ValueError("unknown net %r; known: %s" % (net, ", ".join(NETS)))
    if kind not in ("deploy", "train_val"):
        raise ValueError("kind must be deploy or train_val, not %r" % kind)
    return os.path.join(project_root(), "prototxt", net, kind + ".prototxt")


def _batches(protocol):
    p = protocols.get(protocol)
    return p.batch, p.test_batch


def train_val_name(protocol):
    """File name (in prototxt/<net>/) of the committed train_val whose Data
    layers hold `protocol`'s batch sizes."""
    if _batches(protocol) == _batches(DEFAULT_PROTOCOL):
        return "train_val.prototxt"
    return "train_val_%s.prototxt" % protocol


def train_val_relpath(protocol, net=None):
    """'prototxt/<net>/<file>' (relative to the project root) of the committed
    train_val that the committed solver of `protocol` trains."""
    net = net or protocols.get(protocol).net
    if net not in NETS:
        raise ValueError("unknown net %r; known: %s" % (net, ", ".join(NETS)))
    return "prototxt/%s/%s" % (net, train_val_name(protocol))


def committed_train_vals():
    """[(net, file name, train batch, test batch)] of every committed train_val:
    each net's train_val.prototxt at DEFAULT_PROTOCOL's batch sizes, and one
    per protocol whose batch sizes differ, for that protocol's net."""
    out = [(net, "train_val.prototxt") + _batches(DEFAULT_PROTOCOL) for net in NETS]
    for name, p in protocols.PROTOCOLS.items():
        fname = train_val_name(name)
        if fname != "train_val.prototxt":
            out.append((p.net, fname) + _batches(name))
    return out


def _quiet_import(module):
    """Import a caffe module with glog's INFO/WARNING output off. glog reads
    GLOG_minloglevel when libcaffe is loaded, so the variable is set only for
    the first import and then restored: child processes (caffe train/time)
    still log normally."""
    if "caffe" in sys.modules:
        return importlib.import_module(module)
    old = os.environ.get("GLOG_minloglevel")
    if old is None:
        os.environ["GLOG_minloglevel"] = "2"
    try:
        return importlib.import_module(module)
    finally:
        if old is None:
            os.environ.pop("GLOG_minloglevel", None)


def pb():
    """Caffe's protobuf module caffe_pb2 (NetParameter, LayerParameter ...),
    imported quietly: the one public way to it for the other modules."""
    return _quiet_import("caffe.proto.caffe_pb2")


def read_prototxt(path):
    from google.protobuf import text_format  # lazy: protobuf comes with pycaffe
    param = pb().NetParameter()
    with open(path) as f:
        text_format.Merge(f.read(), param)
    return param


def to_text(param):
    from google.protobuf import text_format  # lazy: protobuf comes with pycaffe
    return text_format.MessageToString(param)


def load(net_or_path, kind="deploy"):
    """NetParameter of one of NETS (committed file) or of a prototxt path."""
    if net_or_path in NETS:
        return read_prototxt(prototxt_path(net_or_path, kind))
    return read_prototxt(net_or_path)


def find_layer(param, name):
    for layer in param.layer:
        if layer.name == name:
            return layer
    raise KeyError("no layer %r in net %r" % (name, param.name))


def _phase_of(layer):
    caffe_pb2 = pb()
    for rule in layer.include:
        if rule.HasField("phase"):
            return "TRAIN" if rule.phase == caffe_pb2.TRAIN else "TEST"
    return None


def set_num_output(param, num_output):
    find_layer(param, CLASSIFIER).inner_product_param.num_output = int(num_output)
    return param


def set_input(param, batch=None, channels=None, size=None):
    """Change the deploy Input layer's shape (N, C, H, W)."""
    for layer in param.layer:
        if layer.type == "Input" and "data" in layer.top:
            dims = layer.input_param.shape[0].dim
            if batch is not None:
                dims[0] = int(batch)
            if channels is not None:
                dims[1] = int(channels)
            if size is not None:
                dims[2] = dims[3] = int(size)
            return param
    raise KeyError("net %r has no Input layer for 'data'" % param.name)


def set_data(param, phase, source=None, batch_size=None, crop_size=None):
    """Change the Data layer of one phase ('TRAIN' or 'TEST')."""
    for layer in param.layer:
        if layer.type == "Data" and _phase_of(layer) == phase:
            if source is not None:
                layer.data_param.source = str(source)
            if batch_size is not None:
                layer.data_param.batch_size = int(batch_size)
            if crop_size is not None:
                if crop_size:
                    layer.transform_param.crop_size = int(crop_size)
                else:
                    layer.transform_param.ClearField("crop_size")
            return param
    raise KeyError("net %r has no %s Data layer" % (param.name, phase))


def render_train_val(net, num_output=5, train_source=None, test_source=None,
                     train_batch=None, test_batch=None, crop_size=None):
    """NetParameter of a net's train_val with the given fields changed."""
    param = load(net, "train_val")
    set_num_output(param, num_output)
    set_data(param, "TRAIN", train_source, train_batch, crop_size)
    set_data(param, "TEST", test_source, test_batch)
    return param


def render_deploy(net, num_output=5, batch=1, channels=1, size=augment.CROP_SIZE):
    param = load(net, "deploy")
    set_num_output(param, num_output)
    set_input(param, batch, channels, size)
    return param


def render_timing(net, num_output=5, batch=10, channels=1, size=augment.CROP_SIZE):
    """The deploy net with an Input 'label' and SoftmaxWithLoss instead of the
    Softmax, for `caffe time` (forward + backward) and pycaffe solver tests.
    The Input blobs keep whatever pycaffe writes into them (zeros by default)."""
    caffe_pb2 = pb()
    param = render_deploy(net, num_output, batch, channels, size)
    keep = [l for l in param.layer if l.type != "Softmax"]
    del param.layer[:]
    param.layer.extend(keep)
    label = caffe_pb2.LayerParameter(name="label", type="Input", top=["label"])
    label.input_param.shape.add().dim.extend([int(batch)])
    param.layer.insert(1, label)
    param.layer.add(name="loss", type="SoftmaxWithLoss", bottom=[CLASSIFIER, "label"],
                    top=["loss"])
    return param


def _meminfo_available():
    """Bytes of MemAvailable (Linux), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_sizes(net, num_output=5, batch=1, size=augment.CROP_SIZE, channels=1, options=None,
                available=None):
    """Refuse, before Caffe sees them, layer sizes that would make Caffe abort
    the whole process (a blob beyond 2^31-1 values: "Check failed ... blob
    size exceeds INT_MAX") or exhaust the memory (the kernel kills it).
    The blobs are measured on the net built at MIN_SIZE, batch 1, one class,
    and scaled: activations with batch x (size / MIN_SIZE)^2, the classifier
    with num_output. Training keeps data and diff: twice that, 4 bytes a
    value. `options` names the user's options for the message (e.g.
    {'size': '--size'}); `available` defaults to MemAvailable."""
    options = dict({"num_output": "num_output", "batch": "batch", "size": "size"},
                   **(options or {}))
    given = {"num_output": num_output, "batch": batch, "size": size}
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError("%s %r: must be a whole number of at least 1" % (options[name], value))
    if size < MIN_SIZE:
        raise UserError("%s %d: must be at least %d (the net halves its input five times)"
                        % (options["size"], size, MIN_SIZE))
    small = build(render_timing(net, 1, 1, channels, MIN_SIZE), "TRAIN")
    scale = batch * float(size) * size / (MIN_SIZE * MIN_SIZE)
    classifier_in = int(small.params[CLASSIFIER][0].data.shape[1])
    largest = max(b.data.size for n, b in small.blobs.items())
    said = "%s %d, %s %d, %s %d" % (options["size"], size, options["batch"], batch,
                                    options["num_output"], num_output)
    if largest * scale > MAX_BLOB or classifier_in * num_output > MAX_BLOB:
        raise UserError("%s: net %s would need a blob of %d values, more than Caffe can "
                        "hold (%d); Caffe would abort" % (
                            said, net, int(max(largest * scale, classifier_in * num_output)),
                            MAX_BLOB))
    activations = sum(b.data.size for b in small.blobs.values()) * scale \
        + num_output * batch * 3
    params = sum(b.data.size for blobs in small.params.values() for b in blobs) \
        + classifier_in * num_output
    need = 2 * 4 * (activations + params)
    available = _meminfo_available() if available is None else available
    if available is not None and need > available:
        raise UserError("%s: net %s needs about %.1f GB for its blobs, more than the %.1f GB "
                        "of memory available; Caffe would be killed or abort. Use a smaller "
                        "value" % (said, net, need / 1e9, available / 1e9))
    return need


def body_layers(param):
    """Layers other than data and loss/accuracy/softmax, in order."""
    return [l for l in param.layer if l.type not in DATA_TYPES and l.type not in HEAD_TYPES]


def write_prototxt(param, path):
    return str(files.atomic_write(path, to_text(param)))


def import_caffe():
    """Import pycaffe quietly in CPU mode."""
    caffe = _quiet_import("caffe")
    caffe.set_mode_cpu()
    return caffe


def build(param, phase="TEST", weights=None):
    """A pycaffe Net from a NetParameter (written to a temporary file)."""
    caffe = import_caffe()
    fd, tmp = tempfile.mkstemp(suffix=".prototxt")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(to_text(param))
        ph = caffe.TRAIN if phase == "TRAIN" else caffe.TEST
        if weights:
            return caffe.Net(tmp, ph, weights=weights)
        return caffe.Net(tmp, ph)
    finally:
        os.unlink(tmp)


def lr_mults(param):
    """{layer name: [lr_mult of blob i]} as Caffe applies them (default 1;
    BatchNorm statistics are never learned)."""
    out = {}
    for layer in param.layer:
        n = {"BatchNorm": 3, "Scale": 2, "Convolution": 2, "InnerProduct": 2}.get(layer.type, 0)
        mults = [layer.param[i].lr_mult if i < len(layer.param) else 1.0 for i in range(n)]
        if layer.type == "BatchNorm":
            mults = [0.0] * n
        out[layer.name] = mults
    return out


def count_values(net, param):
    """(stored values, learnable values) of a pycaffe Net built from param.
    Stored counts every blob Caffe writes to a caffemodel (BatchNorm
    statistics included); learnable only blobs with lr_mult > 0."""
    mults = lr_mults(param)
    stored = learnable = 0
    for name, blobs in net.params.items():
        for i, blob in enumerate(blobs):
            stored += blob.data.size
            m = mults.get(name, [])
            if (m[i] if i < len(m) else 1.0) > 0:
                learnable += blob.data.size
    return stored, learnable


def fill_random(net, rng, keep=(), data_mean=0.0, data_std=1.0):
    """Give every parameter blob of a pycaffe Net random, well-scaled values
    (for tests): BatchNorm statistics with factor 1 (mean ~ N(0, 0.1), variance
    in [0.5, 1.5]; data_bn gets data_mean / data_std**2), Scale gamma in
    [0.5, 1.5] and small beta, conv/inner-product weights N(0, 2/fan_in) and
    small biases. Layers named in `keep` are left as their fillers made them."""
    for name, blobs in net.params.items():
        if name in keep:
            continue
        ltype = net.layer_dict[name].type
        if ltype == "BatchNorm":
            c = blobs[0].data.size
            if name == "data_bn":
                blobs[0].data[...] = data_mean + rng.normal(0, 0.1 * data_std, c)
                blobs[1].data[...] = data_std ** 2 * rng.uniform(0.5, 1.5, c)
            else:
                blobs[0].data[...] = rng.normal(0, 0.1, c)
                blobs[1].data[...] = rng.uniform(0.5, 1.5, c)
            blobs[2].data[...] = 1.0
        elif ltype == "Scale":
            blobs[0].data[...] = rng.uniform(0.5, 1.5, blobs[0].data.shape)
            if len(blobs) > 1:
                blobs[1].data[...] = rng.normal(0, 0.1, blobs[1].data.shape)
        else:
            w = blobs[0].data
            fan_in = w[0].size
            w[...] = rng.normal(0, np.sqrt(2.0 / fan_in), w.shape)
            if len(blobs) > 1:
                blobs[1].data[...] = rng.normal(0, 0.1, blobs[1].data.shape)
