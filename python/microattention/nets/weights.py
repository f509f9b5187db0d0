"""Weights for the transfer-learning chain ImageNet -> macro-expressions ->
micro-expressions (paper 3.3). `fetch` downloads
resnet10_cvgj_iter_320000.caffemodel (cvjena model zoo) and verifies its
sha256, deleting a mismatching download. `imagenet-to-gray` turns that
3-channel BGR model into a 1-channel model for our nets by net surgery on
data_bn, data_scale and conv1 (exact for a gray image replicated to 3
channels, away from conv1's zero-padded border). `transfer` copies weights by
layer name into one of our nets, e.g. the pre-trained ResNet-10 into the
micro-attention net. Output caffemodels hold only the layers that received
weights; every other layer starts from its filler when `caffe train -weights`
loads the file.
"""
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import warnings

import numpy as np

from microattention import augment, files
from microattention.nets import prototxt as nets
from microattention.errors import UserError

RESNET10_FILE = "resnet10_cvgj_iter_320000.caffemodel"
RESNET10_SHA256 = "7291cda37d486d442f05f80784d11e1b53d923a6da512038fee5308158b359e7"
# Listed in cvjena/cnn-models ResNet_preact/ResNet10_cvgj/model_download_link.txt
# (a Google Drive and a Baidu link are listed there too; they need a browser).
RESNET10_URL = ("https://upload.uni-jena.de/data/58493041de6f79.63214979/"
                "resnet10_cvgj_iter_320000.caffemodel")
URL_ENV = "MA_RESNET10_URL"
_DEFAULT_SRC = str(files.weights_dir() / RESNET10_FILE)
SURGERY_LAYERS = ("data_bn", "data_scale", "conv1")


# ------------------------------------------------------------------ caffemodel I/O

class Model(collections.OrderedDict):
    """layer name -> (layer type, [numpy float32 arrays]) of a caffemodel,
    only layers that store blobs."""


def _blob_shape(blob):
    if blob.HasField("shape"):
        return tuple(int(d) for d in blob.shape.dim), False
    # legacy 4-D blob (num, channels, height, width)
    return (int(blob.num), int(blob.channels), int(blob.height), int(blob.width)), True


def read_caffemodel(path):
    pb = nets._pb()
    param = pb.NetParameter()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise UserError("cannot read %s: %s" % (path, exc.strerror or exc))
    if not data:
        raise UserError("%s is empty, not a caffemodel" % path)
    try:
        with warnings.catch_warnings():
            # the pure-Python protobuf only warns on some garbage ("Unexpected end-group tag")
            warnings.simplefilter("error")
            param.ParseFromString(data)
    except Exception as exc:  # protobuf DecodeError, or that warning
        raise UserError("%s is not a caffemodel (a binary NetParameter), or it is truncated: "
                        "%s" % (path, exc))
    if not len(param.layer) and len(param.layers):
        raise UserError("%s uses the V1 'layers' format; upgrade it with Caffe's "
                           "upgrade_net_proto_binary first" % path)
    if not any(len(layer.blobs) for layer in param.layer):
        raise UserError("%s holds no layer with weights: not a caffemodel (a prototxt or "
                        "another file?)" % path)
    model = Model()
    model.eps = {}
    for layer in param.layer:
        if not len(layer.blobs):
            continue
        arrays = []
        for blob in layer.blobs:
            shape, _ = _blob_shape(blob)
            data = blob.double_data if len(blob.double_data) else blob.data
            arr = np.fromiter(data, dtype=np.float32, count=len(data))   # ~4x np.array's speed
            if arr.size != int(np.prod(shape)):
                raise UserError("layer %s of %s: blob has %d values for shape %s"
                                   % (layer.name, path, arr.size, shape))
            arr = arr.reshape(shape)
            arrays.append(arr)
        model[layer.name] = (layer.type, arrays)
        if layer.type == "BatchNorm":
            model.eps[layer.name] = layer.batch_norm_param.eps
    return model


def write_caffemodel(model, path, name=""):
    pb = nets._pb()
    param = pb.NetParameter(name=name)
    for lname, (ltype, arrays) in model.items():
        layer = param.layer.add(name=lname, type=ltype)
        for arr in arrays:
            blob = layer.blobs.add()
            blob.shape.dim.extend(int(d) for d in arr.shape)
            blob.data.extend(np.asarray(arr, dtype=np.float32).ravel().tolist())
    files.atomic_write(path, param.SerializeToString())
    return path


def _shapes_match(src, dst_shape):
    """Caffe's rule: exact shape, or a legacy 4-D blob equal to the target
    shape padded with leading 1s."""
    if tuple(src.shape) == tuple(dst_shape):
        return True
    if src.ndim == 4 and len(dst_shape) <= 4:
        padded = (1,) * (4 - len(dst_shape)) + tuple(dst_shape)
        return tuple(src.shape) == padded
    return False


def _shapes_of(net):
    return collections.OrderedDict(
        (name, (net.layer_dict[name].type, [tuple(b.data.shape) for b in blobs]))
        for name, blobs in net.params.items())


# Layers that read a data source: in a train_val, Caffe would open their LMDB
# (and abort when it is missing); an Input layer of the same tops replaces them.
SOURCE_TYPES = ("Data", "ImageData", "HDF5Data", "WindowData", "MemoryData", "AnnotatedData")


def read_target_prototxt(path):
    """NetParameter of a user's --to-prototxt, with a clear error."""
    from google.protobuf import text_format
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        raise UserError("--to-prototxt %s: cannot read it: %s" % (path, exc.strerror or exc))
    except UnicodeDecodeError:
        raise UserError("--to-prototxt %s is not a text prototxt (a caffemodel?)" % path)
    param = nets._pb().NetParameter()
    try:
        text_format.Merge(text, param)
    except text_format.ParseError as exc:
        raise UserError("--to-prototxt %s is not a valid net prototxt: %s" % (path, exc))
    if not len(param.layer) and not len(param.layers):
        raise UserError("--to-prototxt %s defines no layers" % path)
    return param


def deploy_like(param, channels=1, size=augment.CROP_SIZE):
    """A train_val turned into a net Caffe can build without its data: the
    data-source layers become one Input layer with the same tops (data
    1 x channels x crop x crop; other tops, e.g. label, of shape 1)."""
    pb = nets._pb()
    sources = [l for l in param.layer if l.type in SOURCE_TYPES]
    if not sources:
        return param
    crop = next((l.transform_param.crop_size for l in sources
                 if l.transform_param.crop_size), size)
    tops = []
    for layer in sources:
        tops += [t for t in layer.top if t not in tops]
    keep = [l for l in param.layer if l.type not in SOURCE_TYPES]
    data = pb.LayerParameter(name="input", type="Input", top=tops)
    for top in tops:
        dims = [1, channels, crop, crop] if top == tops[0] else [1]
        data.input_param.shape.add().dim.extend(dims)
    del param.layer[:]
    param.layer.extend([data] + keep)
    return param


def target_shapes(net_name, num_output, prototxt=None):
    """{layer: (type, [blob shapes])} of a net, from a pycaffe Net built fresh.
    A user's prototxt is built in a child process, since Caffe aborts the
    whole process on a net it cannot build; its fatal message becomes a
    UserError."""
    if not prototxt:
        return _shapes_of(nets.build(nets.render_deploy(net_name, num_output=num_output), "TEST"))
    param = deploy_like(read_target_prototxt(prototxt))
    if any(l.name == nets.CLASSIFIER for l in param.layer):
        nets.set_num_output(param, num_output)
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, GLOG_minloglevel="2",
               PYTHONPATH=os.pathsep.join([package_parent] + [p for p in os.environ.get(
                   "PYTHONPATH", "").split(os.pathsep) if p]))
    with tempfile.TemporaryDirectory(prefix="ma-weights-") as tmp:
        path = os.path.join(tmp, "target.prototxt")
        nets.write_prototxt(param, path)
        r = subprocess.run([sys.executable, "-m", "microattention.nets.weights", "--shapes", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, env=env)
    if r.returncode != 0:
        fatal = [l.split("] ", 1)[-1] for l in r.stderr.splitlines()
                 if l[:1] in "FE" and "] " in l] or r.stderr.strip().splitlines()[-3:]
        raise UserError("--to-prototxt %s: Caffe cannot build this net: %s"
                        % (prototxt, "; ".join(fatal) or "exit %d" % r.returncode))
    return collections.OrderedDict((n, (t, [tuple(s) for s in shapes]))
                                   for n, t, shapes in json.loads(r.stdout))


def _shapes_main(argv):
    """Child of target_shapes: build the prototxt, print its blob shapes as JSON."""
    net = nets.build(nets.read_prototxt(argv[-1]), "TEST")
    print(json.dumps([[n, t, [list(x) for x in shapes]]
                      for n, (t, shapes) in _shapes_of(net).items()]))
    return 0


def prototxt_net(param):
    """Which of our nets a NetParameter is (the same layers with weights, by
    name), or None for a net of another design."""
    names = [n for n, mults in nets.lr_mults(param).items() if mults]
    return next((n for n in nets.NETS if set(param_layers(n)) == set(names)), None)


def check_target(net, prototxt, param):
    """The net a transfer writes for: --to, checked against --to-prototxt
    when both are given (weights transferred into the prototxt of another
    net would be recorded as the --to net). Returns the name to record."""
    found = prototxt_net(param) if prototxt else None
    if net and prototxt and found != net:
        raise UserError("--to-prototxt %s is %s, not --to %s: give the prototxt of %s, or "
                        "drop --to" % (prototxt, "the prototxt of " + found if found else
                                       "a net of another design (its layers with weights "
                                       "are not those of any of %s)" % ", ".join(nets.NETS),
                                       net, net))
    if prototxt:
        return found or "prototxt"
    return net or "micro_attention"


def param_layers(net):
    """Names of the layers of one of our nets that store blobs, in order."""
    return [n for n, mults in nets.lr_mults(nets.load(net, "deploy")).items() if mults]


def source_net(model):
    """The smallest of our nets that has every layer of `model` that any of
    our nets has (None when the model shares no layer name with them)."""
    known = {n: param_layers(n) for n in nets.NETS}
    ours = set(model) & set().union(*known.values())
    fits = [n for n in nets.NETS if ours and ours <= set(known[n])]
    return min(fits, key=lambda n: len(known[n])) if fits else None


def check_complete(model, path, needed, skip=()):
    """Refuse a caffemodel that lacks layers its own net has and the target
    needs: a file cut at a layer boundary still parses, and Caffe would start
    those layers from fillers without a word."""
    src = source_net(model)
    if src is None:
        return
    missing = [n for n in param_layers(src) if n not in model and n in needed and n not in skip]
    if not missing:
        return
    hint = ""
    if missing == [nets.CLASSIFIER]:
        hint = (" If the source never had it (e.g. the imagenet-to-gray output, or another "
                "class count), use --reinit-classifier.")
    raise UserError(
        "%s lacks %d layer(s) with weights that its net (%s) has and the target needs: %s. "
        "The file is truncated or incomplete (a cut download or copy?); these layers would "
        "silently start from their fillers.%s"
        % (path, len(missing), src, ", ".join(missing), hint))


def match(model, shapes, reinit=()):
    """Split the target's layers into copied / fresh and list source layers not
    used. Raises UserError on a shape mismatch (unless the layer is in reinit)."""
    copied, fresh, errors = Model(), [], []
    for name, (ltype, dshapes) in shapes.items():
        if name in reinit or name not in model:
            fresh.append(name)
            continue
        stype, arrays = model[name]
        if len(arrays) != len(dshapes) or not all(_shapes_match(a, s) for a, s in zip(arrays, dshapes)):
            errors.append("  %s: source %s, target %s" % (
                name, [tuple(a.shape) for a in arrays], dshapes))
            continue
        copied[name] = (ltype, [a.reshape(s) for a, s in zip(arrays, dshapes)])
    if errors:
        hint = ""
        if any(e.strip().startswith(nets.CLASSIFIER + ":") for e in errors):
            hint = "\n(the class count differs: use --reinit-classifier to start %s from its filler)" \
                   % nets.CLASSIFIER
        raise UserError("blob shapes differ between source and target for:\n%s%s"
                           % ("\n".join(errors), hint))
    unused = [n for n in model if n not in shapes]
    return copied, fresh, unused


def report(copied, fresh, unused, out):
    print("copied (%d layers, %d values): %s" % (
        len(copied), sum(a.size for _, arrs in copied.values() for a in arrs),
        ", ".join(copied) or "-"))
    print("initialised fresh from fillers (%d): %s" % (len(fresh), ", ".join(fresh) or "-"))
    print("source layers not in the target (%d): %s" % (len(unused), ", ".join(unused) or "-"))
    print("wrote %s" % out)


# ------------------------------------------------------------ imagenet-to-gray

def _bn_stats(arrays, eps):
    mean, var, factor = (np.asarray(a, dtype=np.float64).ravel() for a in arrays)
    s = 0.0 if factor[0] == 0 else 1.0 / factor[0]
    return mean * s, var * s, eps


def to_gray(model, target_eps=1e-5):
    """Fold the 3-channel input normalisation of the cvjena ResNet into a
    1-channel data_bn / data_scale / conv1. Returns a new Model (other layers
    unchanged).

    Source, per input channel c (BGR), in TEST semantics:
        data_bn:    n_c = (x_c - m_c) / sqrt(v_c + eps)      (m, v = stored sums / factor)
        data_scale: z_c = g_c * n_c + h_c  =  a_c * x_c + d_c
                    with a_c = g_c / sqrt(v_c + eps),  d_c = h_c - a_c * m_c
        conv1:      y_o(p) = B_o + sum_c sum_k W[o,c,k] * z_c(p+k)
    For a gray image replicated to the three channels (x_c = x) and a window
    that lies inside the image:
        y_o(p) = B_o + sum_c d_c * sum_k W[o,c,k] + sum_k (sum_c a_c W[o,c,k]) * x(p+k)
    Target, one channel: data_bn with mean m_g and variance v_g (factor 1),
    data_scale gamma 1, beta 0, so n = (x - m_g) / S with S = sqrt(v_g + eps_t), and
        W'[o,0,k] = S * sum_c a_c W[o,c,k]
        B'_o      = B_o + sum_c d_c * sum_k W[o,c,k] + m_g * sum_k sum_c a_c W[o,c,k]
    give y'_o(p) = y_o(p) exactly for every (m_g, v_g). We take m_g, v_g as the
    means of the three channels' statistics so the normalised input keeps
    ImageNet's scale (and in TRAIN phase, where data_bn uses the batch's own
    statistics, conv1 still sees a standardised image, as it did on ImageNet).

    Border: conv1 (7x7, stride 2, pad 3) pads z_c with zeros in the 3-channel
    net but n with zeros in the gray net, i.e. x = m_g; where the window
    overlaps the padding the source adds nothing while the target adds
    W' * (0 - ...) terms of a different value, so the outputs differ there
    (conv1 output rows/columns 0, 1 and 111 of a 224 input). No per-channel
    affine fold can be exact there unless d_c / a_c is the same for all c.
    """
    for name in SURGERY_LAYERS:
        if name not in model:
            raise UserError("the source model has no layer %r: is it the cvjena ResNet?" % name)
    out = Model((k, v) for k, v in model.items())
    m, v, eps = _bn_stats(model["data_bn"][1], model.eps.get("data_bn", 1e-5))
    g, h = (np.asarray(a, dtype=np.float64).ravel() for a in model["data_scale"][1])
    w = np.asarray(model["conv1"][1][0], dtype=np.float64)
    if w.ndim != 4 or w.shape[1] != 3 or m.size != 3 or g.size != 3:
        raise UserError("expected a 3-channel data_bn/data_scale/conv1, got shapes %s, %s, %s"
                           % (m.shape, g.shape, w.shape))
    if len(model["conv1"][1]) > 1:
        b = np.asarray(model["conv1"][1][1], dtype=np.float64).ravel()
    else:
        b = np.zeros(w.shape[0])
    a = g / np.sqrt(v + eps)
    d = h - a * m
    m_g, v_g = float(m.mean()), float(v.mean())
    s_g = np.sqrt(v_g + target_eps)
    folded = np.einsum("c,ocij->oij", a, w)                 # sum_c a_c W[o,c,k]
    w_new = (s_g * folded)[:, None, :, :]
    b_new = b + np.einsum("c,oc->o", d, w.sum(axis=(2, 3))) + m_g * folded.sum(axis=(1, 2))
    f32 = np.float32
    out["data_bn"] = ("BatchNorm", [np.array([m_g], f32), np.array([v_g], f32), np.array([1.0], f32)])
    out["data_scale"] = ("Scale", [np.ones(1, f32), np.zeros(1, f32)])
    out["conv1"] = ("Convolution", [w_new.astype(f32), b_new.astype(f32)])
    out.eps = dict(model.eps)
    return out


# ------------------------------------------------------------------------ fetch

def fetch(url, out, sha256=RESNET10_SHA256, force=False):
    """Download url (http(s), file:// or a local path) to out, verify sha256.
    A mismatching download is deleted and UserError raised."""
    url, local = _url_of(url)
    if local is not None and os.path.isdir(local):
        raise UserError("--url %s is a folder; give the caffemodel file" % local)
    files.check_outputs([out, out + ".part"], {local: "--url"}, {out: "--out"})
    if os.path.exists(out) and not force:
        try:
            got = files.sha256(out)
        except OSError as exc:
            raise UserError("cannot read the existing --out %s: %s" % (out, exc.strerror or exc))
        if got == sha256:
            print("%s already present, sha256 ok" % out)
            return out
        print("%s exists but its sha256 is %s, not %s: downloading again" % (out, got, sha256))
    part = out + ".part"
    print("downloading %s" % url)
    try:
        with files.terminate_as_interrupt():
            try:
                with urllib.request.urlopen(url, timeout=60) as r, open(part, "wb") as f:
                    shutil.copyfileobj(r, f, 1 << 20)
                got = files.sha256(part)
            except KeyboardInterrupt:
                raise UserError("download of %s interrupted; the partial file %s was removed"
                                % (url, part))
            except Exception as exc:
                raise UserError("download of %s failed: %s" % (url, exc))
        if got != sha256:
            raise UserError("sha256 mismatch for %s: got %s, expected %s; the download was "
                            "deleted" % (url, got, sha256))
        os.replace(part, out)
    finally:
        if os.path.exists(part):
            os.unlink(part)
    print("wrote %s (sha256 %s ok)" % (out, got))
    return out


def _url_of(url):
    """(URL, local path or None) of --url: a URL, a file:// URL or a path."""
    if not url:
        raise UserError("--url is empty")
    if "://" not in url:
        path = os.path.abspath(url)
        return "file://" + urllib.parse.quote(path), path
    if url.startswith("file://"):
        return url, urllib.parse.unquote(urllib.parse.urlparse(url).path)
    return url, None


# ---------------------------------------------------------------------- commands

def add_arguments(parser):
    sub = parser.add_subparsers(dest="action", metavar="<action>")
    sub.required = True

    f = sub.add_parser("fetch", help="download %s and verify its sha256" % RESNET10_FILE)
    f.add_argument("--url", default=os.environ.get(URL_ENV, RESNET10_URL),
                   help="source URL, file:// URL or local path (default $%s or %s)"
                        % (URL_ENV, RESNET10_URL))
    f.add_argument("--out", default=str(files.weights_dir() / RESNET10_FILE),
                   help="destination (default %s)" % (files.weights_dir() / RESNET10_FILE))
    f.add_argument("--force", action="store_true", help="download even if a verified file exists")

    g = sub.add_parser("imagenet-to-gray",
                       help="convert the 3-channel cvjena ImageNet model to 1 gray channel")
    g.add_argument("--in", dest="src", default=_DEFAULT_SRC,
                   help="source caffemodel (default %s)" % (files.weights_dir() / RESNET10_FILE))
    g.add_argument("--out", required=True, help="output caffemodel")
    g.add_argument("--net", choices=nets.NETS, default=nets.BASELINE,
                   help="net whose layers the output is checked against and limited to "
                        "(default %s)" % nets.BASELINE)

    t = sub.add_parser("transfer", help="copy weights by layer name into one of our nets")
    t.add_argument("--from", dest="src", required=True, help="source caffemodel")
    t.add_argument("--to", dest="net", choices=nets.NETS, default=None,
                   help="target net (default micro_attention); with --to-prototxt, the net "
                        "that prototxt must be")
    t.add_argument("--to-prototxt", help="target prototxt instead of a committed net")
    t.add_argument("--num-output", type=int, default=5, help="target class count (default 5)")
    t.add_argument("--reinit-classifier", action="store_true",
                   help="do not copy %s (e.g. when the class count changes)" % nets.CLASSIFIER)
    t.add_argument("--out", required=True, help="output caffemodel")


def provenance_path(out):
    """OUT.json next to each weights file this command writes."""
    return str(out) + ".json"


def write_provenance(out, stage, inputs, settings, layers=None):
    """Record where a weights file came from: the stage, the sha256 of every
    input file, the settings and the output's own sha256, so that each link
    of the transfer chain (docs/transfer-chain.md) can be checked."""
    import json
    from microattention import __version__
    doc = collections.OrderedDict([
        ("format", "microattention-weights/1"), ("stage", stage),
        ("output", os.path.abspath(out)), ("output_sha256", files.sha256(out)),
        ("inputs", collections.OrderedDict(
            (name, collections.OrderedDict([("path", os.path.abspath(path)),
                                            ("sha256", files.sha256(path))]))
            for name, path in inputs.items())),
        ("settings", settings),
        ("microattention_version", __version__),
    ])
    if layers is not None:
        doc["layers"] = layers
    files.atomic_write(provenance_path(out), json.dumps(doc, indent=1) + "\n")


def _layers(copied, fresh, unused):
    return collections.OrderedDict([("copied", list(copied)), ("from_fillers", list(fresh)),
                                    ("unused_source_layers", list(unused))])


def run(args):
    made = files.new_dirs(os.path.dirname(os.path.abspath(args.out)))
    try:
        if args.action == "fetch":
            fetch(args.url, args.out, force=args.force)
            write_provenance(args.out, "fetch", {}, collections.OrderedDict([
                ("url", args.url), ("expected_sha256", RESNET10_SHA256)]))
            return 0
        return _convert(args)
    except KeyboardInterrupt:
        files.remove_empty(made)
        raise UserError("interrupted; nothing was written")
    except BaseException:
        files.remove_empty(made)      # folders made for an output that was never written
        raise


def _convert(args):
    names = {args.out: "--out", provenance_path(args.out): "--out (provenance)"}
    src_option = "--in" if args.action == "imagenet-to-gray" else "--from"
    if args.action == "imagenet-to-gray":
        if not os.path.exists(args.src) and args.src == _DEFAULT_SRC:
            raise UserError("--in %s does not exist; download it first: python3 -m "
                            "microattention weights fetch" % args.src)
        files.check_outputs([args.out, provenance_path(args.out)], {args.src: src_option}, names)
        model = read_caffemodel(args.src)
        shapes = target_shapes(args.net, 5)
        gray = to_gray(model, target_eps=_target_eps(args.net))
        copied, fresh, unused = match(gray, shapes, reinit=(nets.CLASSIFIER,))
        check_complete(model, args.src, shapes, skip=(nets.CLASSIFIER,))
        write_caffemodel(copied, args.out, name=args.net + "_imagenet_gray")
        write_provenance(args.out, "imagenet-to-gray", {"in": args.src},
                         collections.OrderedDict([("net", args.net)]),
                         _layers(copied, fresh, unused))
        report(copied, fresh, unused, args.out)
        return 0
    if args.action == "transfer":
        if args.num_output < 1:
            raise UserError("--num-output %d: must be at least 1" % args.num_output)
        files.check_outputs([args.out, provenance_path(args.out)],
                            {args.src: src_option, args.to_prototxt: "--to-prototxt"}, names)
        target = check_target(args.net, args.to_prototxt, read_target_prototxt(
            args.to_prototxt) if args.to_prototxt else None)   # cheap checks first
        if not args.to_prototxt:
            # a class count Caffe would abort the process on
            nets.check_sizes(target, args.num_output, options={"num_output": "--num-output"})
        model = read_caffemodel(args.src)
        shapes = target_shapes(target, args.num_output, args.to_prototxt)
        reinit = (nets.CLASSIFIER,) if args.reinit_classifier else ()
        copied, fresh, unused = match(model, shapes, reinit)
        check_complete(model, args.src, shapes, skip=reinit)
        if not copied:
            raise UserError("no layer of %s matches the target by name" % args.src)
        write_caffemodel(copied, args.out, name=(args.to_prototxt or target) + "_transfer")
        inputs = collections.OrderedDict([("from", args.src)])
        if args.to_prototxt:
            inputs["to_prototxt"] = args.to_prototxt
        write_provenance(args.out, "transfer", inputs, collections.OrderedDict([
            ("to", target), ("num_output", args.num_output),
            ("reinit_classifier", bool(args.reinit_classifier))]),
            _layers(copied, fresh, unused))
        report(copied, fresh, unused, args.out)
        return 0
    raise UserError("unknown action %r" % args.action)


def _target_eps(net):
    layer = nets.find_layer(nets.load(net, "deploy"), "data_bn")
    return layer.batch_norm_param.eps


if __name__ == "__main__" and sys.argv[1:2] == ["--shapes"]:
    sys.exit(_shapes_main(sys.argv[2:]))
