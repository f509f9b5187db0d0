"""Blob shapes of the net a transfer writes for: one of our nets built by
pycaffe, or a user's --to-prototxt built in a child process
(`python -m microattention.nets.shapes --shapes PATH`), since Caffe aborts the
whole process on a net it cannot build.
"""
import collections
import json
import os
import subprocess
import sys
import tempfile

from microattention import augment
from microattention.errors import UserError
from microattention.nets import prototxt

# Layers that read a data source: in a train_val, Caffe would open their LMDB
# (and abort when it is missing); an Input layer of the same tops replaces them.
SOURCE_TYPES = ("Data", "ImageData", "HDF5Data", "WindowData", "MemoryData", "AnnotatedData")


def shapes_of(net):
    """{layer: (type, [blob shapes])} of a pycaffe Net, in order."""
    return collections.OrderedDict(
        (name, (net.layer_dict[name].type, [tuple(b.data.shape) for b in blobs]))
        for name, blobs in net.params.items())


def read_target_prototxt(path):
    """NetParameter of a user's --to-prototxt, with a clear error."""
    from google.protobuf import text_format  # lazy: protobuf comes with pycaffe
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        raise UserError("--to-prototxt %s: cannot read it: %s" % (path, exc.strerror or exc))
    except UnicodeDecodeError:
        raise UserError("--to-prototxt %s is not a text prototxt (a caffemodel?)" % path)
    param = prototxt.pb().NetParameter()
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
    caffe_pb2 = prototxt.pb()
    sources = [l for l in param.layer if l.type in SOURCE_TYPES]
    if not sources:
        return param
    crop = next((l.transform_param.crop_size for l in sources
                 if l.transform_param.crop_size), size)
    tops = []
    for layer in sources:
        tops += [t for t in layer.top if t not in tops]
    keep = [l for l in param.layer if l.type not in SOURCE_TYPES]
    data = caffe_pb2.LayerParameter(name="input", type="Input", top=tops)
    for top in tops:
        dims = [1, channels, crop, crop] if top == tops[0] else [1]
        data.input_param.shape.add().dim.extend(dims)
    del param.layer[:]
    param.layer.extend([data] + keep)
    return param


def target_shapes(net_name, num_output, prototxt_file=None):
    """{layer: (type, [blob shapes])} of a net, from a pycaffe Net built fresh.
    A user's prototxt is built in a child process, since Caffe aborts the
    whole process on a net it cannot build; its fatal message becomes a
    UserError."""
    if not prototxt_file:
        return shapes_of(prototxt.build(prototxt.render_deploy(net_name, num_output=num_output),
                                        "TEST"))
    param = deploy_like(read_target_prototxt(prototxt_file))
    if any(l.name == prototxt.CLASSIFIER for l in param.layer):
        prototxt.set_num_output(param, num_output)
    with tempfile.TemporaryDirectory(prefix="ma-weights-") as tmp:
        path = os.path.join(tmp, "target.prototxt")
        prototxt.write_prototxt(param, path)
        r = subprocess.run([sys.executable, "-m", "microattention.nets.shapes", "--shapes",
                            path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, env=_child_env())
    if r.returncode != 0:
        fatal = [l.split("] ", 1)[-1] for l in r.stderr.splitlines()
                 if l[:1] in "FE" and "] " in l] or r.stderr.strip().splitlines()[-3:]
        raise UserError("--to-prototxt %s: Caffe cannot build this net: %s"
                        % (prototxt_file, "; ".join(fatal) or "exit %d" % r.returncode))
    return collections.OrderedDict((n, (t, [tuple(s) for s in shapes]))
                                   for n, t, shapes in json.loads(r.stdout))


def _child_env():
    """The environment of the --shapes child: glog quiet, and this package's
    parent folder first on PYTHONPATH so the child imports this very code."""
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return dict(os.environ, GLOG_minloglevel="2",
                PYTHONPATH=os.pathsep.join([package_parent] + [p for p in os.environ.get(
                    "PYTHONPATH", "").split(os.pathsep) if p]))


def shapes_main(argv):
    """Child of target_shapes: build the prototxt, print its blob shapes as JSON."""
    net = prototxt.build(prototxt.read_prototxt(argv[-1]), "TEST")
    print(json.dumps([[n, t, [list(x) for x in shapes]]
                      for n, (t, shapes) in shapes_of(net).items()]))
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["--shapes"]:
    sys.exit(shapes_main(sys.argv[2:]))
