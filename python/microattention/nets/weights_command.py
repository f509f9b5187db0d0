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
import os

from microattention import files
from microattention.errors import UserError
from microattention.nets import prototxt, surgery
from microattention.nets.caffemodel import read_caffemodel, write_caffemodel
from microattention.nets.fetch import (DEFAULT_PATH, RESNET10_FILE, RESNET10_SHA256,
                                       RESNET10_URL, URL_ENV, fetch)
from microattention.nets.sidecar import layers_record, provenance_path, write_provenance
from microattention.nets.shapes import SOURCE_TYPES, read_target_prototxt, target_shapes


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
    g.add_argument("--in", dest="src", default=DEFAULT_PATH,
                   help="source caffemodel (default %s)" % (files.weights_dir() / RESNET10_FILE))
    g.add_argument("--out", required=True, help="output caffemodel")
    g.add_argument("--net", choices=prototxt.NETS, default=prototxt.BASELINE,
                   help="net whose layers the output is checked against and limited to "
                        "(default %s)" % prototxt.BASELINE)

    t = sub.add_parser("transfer", help="copy weights by layer name into one of our nets")
    t.add_argument("--from", dest="src", required=True, help="source caffemodel")
    t.add_argument("--to", dest="net", choices=prototxt.NETS, default=None,
                   help="target net (default micro_attention); with --to-prototxt, the net "
                        "that prototxt must be")
    t.add_argument("--to-prototxt",
                   help="target prototxt instead of a committed net: a deploy or a "
                        "train_val prototxt (a train_val's data layers are replaced by "
                        "a deploy Input of the same tops; no LMDB is opened)")
    t.add_argument("--num-output", type=int, default=5, help="target class count (default 5)")
    t.add_argument("--reinit-classifier", action="store_true",
                   help="do not copy %s (e.g. when the class count changes)" % prototxt.CLASSIFIER)
    t.add_argument("--out", required=True, help="output caffemodel")


def report(copied, fresh, unused, out):
    """Print what a conversion copied, started from fillers and left unused."""
    print("copied (%d layers, %d values): %s" % (
        len(copied), sum(a.size for _, arrs in copied.values() for a in arrs),
        ", ".join(copied) or "-"))
    print("initialised fresh from fillers (%d): %s" % (len(fresh), ", ".join(fresh) or "-"))
    print("source layers not in the target (%d): %s" % (len(unused), ", ".join(unused) or "-"))
    print("wrote %s" % out)


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
    if args.action == "imagenet-to-gray":
        return _imagenet_to_gray(args, names)
    if args.action == "transfer":
        return _transfer(args, names)
    raise UserError("unknown action %r" % args.action)


def _imagenet_to_gray(args, names):
    if not os.path.exists(args.src) and args.src == DEFAULT_PATH:
        raise UserError("--in %s does not exist; download it first: python3 -m "
                        "microattention weights fetch" % args.src)
    files.check_outputs([args.out, provenance_path(args.out)], {args.src: "--in"}, names)
    model = read_caffemodel(args.src)
    shapes = target_shapes(args.net, 5)
    gray = surgery.to_gray(model, target_eps=_target_eps(args.net))
    copied, fresh, unused = surgery.match(gray, shapes, reinit=(prototxt.CLASSIFIER,))
    surgery.check_complete(model, args.src, shapes, skip=(prototxt.CLASSIFIER,))
    write_caffemodel(copied, args.out, name=args.net + "_imagenet_gray")
    write_provenance(args.out, "imagenet-to-gray", {"in": args.src},
                     collections.OrderedDict([("net", args.net)]),
                     layers_record(copied, fresh, unused))
    report(copied, fresh, unused, args.out)
    return 0


def _transfer(args, names):
    if args.num_output < 1:
        raise UserError("--num-output %d: must be at least 1" % args.num_output)
    files.check_outputs([args.out, provenance_path(args.out)],
                        {args.src: "--from", args.to_prototxt: "--to-prototxt"}, names)
    param = read_target_prototxt(args.to_prototxt) if args.to_prototxt else None
    target = surgery.check_target(args.net, args.to_prototxt, param)   # cheap checks first
    if not args.to_prototxt:
        # a class count Caffe would abort the process on
        prototxt.check_sizes(target, args.num_output, options={"num_output": "--num-output"})
    model = read_caffemodel(args.src)
    shapes = target_shapes(target, args.num_output, args.to_prototxt)
    reinit = (prototxt.CLASSIFIER,) if args.reinit_classifier else ()
    copied, fresh, unused = surgery.match(model, shapes, reinit)
    surgery.check_complete(model, args.src, shapes, skip=reinit)
    if not copied:
        raise UserError("no layer of %s matches the target by name" % args.src)
    write_caffemodel(copied, args.out, name=(args.to_prototxt or target) + "_transfer")
    inputs = collections.OrderedDict([("from", args.src)])
    if args.to_prototxt:
        inputs["to_prototxt"] = args.to_prototxt
    write_provenance(args.out, "transfer", inputs, collections.OrderedDict([
        ("to", target), ("num_output", args.num_output),
        ("reinit_classifier", bool(args.reinit_classifier))]),
        layers_record(copied, fresh, unused))
    if param is not None:
        _say_data_layers_replaced(param, args.to_prototxt)
    report(copied, fresh, unused, args.out)
    return 0


def _say_data_layers_replaced(param, path):
    """One line when --to-prototxt is a train_val: its data layers were
    replaced by a deploy Input (shapes.deploy_like) to build the target."""
    sources = [l for l in param.layer if l.type in SOURCE_TYPES]
    if sources:
        print("--to-prototxt %s is a train_val: its data layer(s) %s were replaced by a "
              "deploy Input of the same tops" % (path, ", ".join(
                  "%s (%s)" % (l.name, l.type) for l in sources)))


def _target_eps(net):
    layer = prototxt.find_layer(prototxt.load(net, "deploy"), "data_bn")
    return layer.batch_norm_param.eps
