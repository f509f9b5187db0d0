"""Caffemodel I/O: a binary NetParameter read into numpy arrays per layer
(Model) and written back, through the public protobuf access prototxt.pb()."""
import collections
import warnings

import numpy as np

from microattention import files
from microattention.errors import UserError
from microattention.nets import prototxt


class Model(collections.OrderedDict):
    """layer name -> (layer type, [numpy float32 arrays]) of a caffemodel,
    only layers that store blobs."""


def blob_shape(blob):
    """(shape, legacy) of a BlobProto: its BlobShape, or the legacy 4-D
    (num, channels, height, width) with legacy True."""
    if blob.HasField("shape"):
        return tuple(int(d) for d in blob.shape.dim), False
    # legacy 4-D blob (num, channels, height, width)
    return (int(blob.num), int(blob.channels), int(blob.height), int(blob.width)), True


def _parse(path):
    """The NetParameter of a caffemodel file, with a UserError for a file
    that is missing, empty, not a caffemodel or in the V1 format."""
    param = prototxt.pb().NetParameter()
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
    return param


def _arrays(layer, path):
    """The blobs of one LayerParameter as float32 arrays of their shapes."""
    arrays = []
    for blob in layer.blobs:
        shape, _ = blob_shape(blob)
        data = blob.double_data if len(blob.double_data) else blob.data
        arr = np.fromiter(data, dtype=np.float32, count=len(data))   # ~4x np.array's speed
        if arr.size != int(np.prod(shape)):
            raise UserError("layer %s of %s: blob has %d values for shape %s"
                               % (layer.name, path, arr.size, shape))
        arr = arr.reshape(shape)
        arrays.append(arr)
    return arrays


def read_caffemodel(path):
    """The Model of a caffemodel file; model.eps maps each BatchNorm layer to its eps."""
    param = _parse(path)
    model = Model()
    model.eps = {}
    for layer in param.layer:
        if not len(layer.blobs):
            continue
        model[layer.name] = (layer.type, _arrays(layer, path))
        if layer.type == "BatchNorm":
            model.eps[layer.name] = layer.batch_norm_param.eps
    return model


def write_caffemodel(model, path, name=""):
    """Write a Model as a caffemodel (atomically); returns path."""
    param = prototxt.pb().NetParameter(name=name)
    for lname, (ltype, arrays) in model.items():
        layer = param.layer.add(name=lname, type=ltype)
        for arr in arrays:
            blob = layer.blobs.add()
            blob.shape.dim.extend(int(d) for d in arr.shape)
            blob.data.extend(np.asarray(arr, dtype=np.float32).ravel().tolist())
    files.atomic_write(path, param.SerializeToString())
    return path
