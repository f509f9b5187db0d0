"""Feature and attention maps of a trained net (paper 4.4): the net loaded in
pycaffe with a caffemodel checked to fit it, one face's forward pass, its
maps by name, upsampled to the face and scored on the AU regions.
"""
import collections
import os
import re

import numpy as np

from microattention import augment
from microattention.datasets.classes import CLASSES
from microattention.attention.regions import region_score
from microattention.errors import UserError
from microattention.nets import caffemodel, prototxt

FEATURE = "feature"
ATTENTION = "attention_%d"


def map_blobs(net):
    """OrderedDict map name -> blob name of a pycaffe Net: the feature map (the
    input of global pooling) and every Sigmoid output, named by its stage."""
    out = collections.OrderedDict()
    for name, layer in zip(net._layer_names, net.layers):
        if layer.type == "Sigmoid":
            stage = [int(s) for s in re.findall(r"\d+", name) if int(s) in prototxt.STAGES]
            key = ATTENTION % stage[0] if stage else name
            out[key] = net.top_names[name][0]
    pool = [n for n, l in zip(net._layer_names, net.layers)
            if l.type == "Pooling" and n == "global_pool"]
    if not pool:
        raise ValueError("net has no global_pool layer")
    result = collections.OrderedDict([(FEATURE, net.bottom_names[pool[0]][0])])
    result.update(out)
    return result


def forward(net, image):
    """(maps, class probabilities) of one gray face image (2-D array)."""
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError("expected a 2-D uint8 gray image, got %s %s"
                         % (image.dtype, image.shape))
    size = net.blobs["data"].data.shape[-1]
    face = augment.resize_for_test(image, size)
    net.blobs["data"].data[...] = face.astype(np.float32)[None, None]
    result = net.forward()
    maps = collections.OrderedDict()
    for key, blob in map_blobs(net).items():
        maps[key] = net.blobs[blob].data[0].mean(axis=0).astype(np.float64)
    prob = result.get("prob")
    return maps, (None if prob is None else prob[0].astype(np.float64))


def attention_maps(net, image):
    """OrderedDict map name -> 2-D map at the blob's resolution: 'feature'
    (last block, channel mean) and 'attention_<C>' per attention unit, for a
    square 8-bit gray face image (0-255, as the LMDBs hold it) of any size,
    resized to the net input as the test LMDB does."""
    return forward(net, image)[0]


def upsample(map_, size):
    """Bilinear resize of a 2-D map to size x size (what Caffe's receptive
    fields cover: the whole input)."""
    import cv2  # lazy: OpenCV is optional outside the image (its tests skip without it)
    return cv2.resize(np.asarray(map_, np.float32), (size, size),
                      interpolation=cv2.INTER_LINEAR).astype(np.float64)


def score_maps(maps, mask, size):
    """[(name, map, map upsampled to size x size, score, area)] of one face's
    maps; score and area are None without a mask."""
    out = []
    for key, small in maps.items():
        big = upsample(small, size)
        score = area = None
        if mask is not None:
            score = region_score(big, mask)
            area = float(mask.mean())
        out.append((key, small, big, score, area))
    return out


def _param_layers(param):
    return {l.name for l in param.layer
            if l.type in ("Convolution", "BatchNorm", "Scale", "InnerProduct")}


def _model_shapes(path, option):
    """{layer: [blob shapes]} of a caffemodel's layers that hold blobs. Only
    shapes are read here: pycaffe copies the values in C++ (converting them in
    Python takes seconds) once they are known to fit, since Caffe aborts the
    process on a mismatch."""
    param = prototxt.pb().NetParameter()
    try:
        with open(path, "rb") as handle:
            param.ParseFromString(handle.read())
    except OSError as exc:
        raise UserError("%s %s: cannot read: %s" % (option, path, exc.strerror or exc))
    except Exception as exc:  # protobuf DecodeError
        raise UserError("%s %s is not a caffemodel: %s" % (option, path, exc))
    if not len(param.layer):
        raise UserError("%s %s holds no layers (or the V1 format; upgrade it with Caffe's "
                        "upgrade_net_proto_binary)" % (option, path))
    return collections.OrderedDict(
        (layer.name, [caffemodel.blob_shape(b)[0] for b in layer.blobs])
        for layer in param.layer if len(layer.blobs))


def _fits(stored, shape):
    """Caffe's rule: the same shape, or a legacy 4-D shape padded with 1s."""
    stored, shape = tuple(stored), tuple(shape)
    return stored == shape or (len(stored) == 4 and len(shape) <= 4
                               and stored == (1,) * (4 - len(shape)) + shape)


def load_net(name, weights_path, option="--weights", deploy=None):
    """(pycaffe Net, class names) of net `name` with the weights of a
    caffemodel; the caffemodel must hold exactly that net's layers. The net
    is prototxt.render_deploy(name) for the caffemodel's class count, or the
    deploy prototxt `deploy` (a path) when given."""
    if not os.path.isfile(weights_path):
        raise UserError("%s %s: file not found" % (option, weights_path))
    model = _model_shapes(weights_path, option)
    if prototxt.CLASSIFIER not in model:
        raise UserError("%s %s holds no %s layer; not a model of our nets"
                        % (option, weights_path, prototxt.CLASSIFIER))
    num_output = model[prototxt.CLASSIFIER][0][0]
    if deploy is None:
        param = prototxt.render_deploy(name, num_output=num_output)
    else:
        try:
            param = prototxt.read_prototxt(str(deploy))
        except Exception as exc:  # text_format.ParseError
            raise UserError("%s %s is not a net prototxt (%s)" % (option, deploy, exc))
    wanted = _param_layers(param)
    missing = sorted(wanted - set(model))
    extra = sorted(set(model) - wanted)
    if missing or extra:
        like = [n for n in prototxt.NETS if _param_layers(prototxt.load(n)) == set(model)]
        raise UserError(
            "%s %s does not fit --net %s: %s%s%s" % (
                option, weights_path, name,
                "missing layer(s) %s" % ", ".join(missing[:6]) if missing else "",
                "; " if missing and extra else "",
                "layer(s) not in %s: %s" % (name, ", ".join(extra[:6])) if extra else "")
            + ("; it looks like a %s model" % like[0] if like else ""))
    net = prototxt.build(param, "TEST")
    bad = ["%s: weights %s, net %s" % (layer, model[layer], [b.data.shape for b in blobs])
           for layer, blobs in net.params.items()
           if len(model[layer]) != len(blobs)
           or not all(_fits(s, b.data.shape) for s, b in zip(model[layer], blobs))]
    if bad:
        raise UserError("%s %s does not fit --net %s, blob shapes differ: %s"
                        % (option, weights_path, name, "; ".join(bad[:4])))
    net.copy_from(weights_path)
    return net, class_names(num_output)


def class_names(num_output):
    for family in ("micro", "smic"):
        if len(CLASSES[family]) == num_output:
            return list(CLASSES[family])
    return ["class %d" % i for i in range(num_output)]


def load_start_net(name, start_path, trained_path, seed, option="start weights"):
    """The net `name` as its fold started (iteration 0): the deploy net for
    the trained caffemodel's class count, its layers drawn from their fillers
    with Caffe's seed `seed`, then the start caffemodel's layers copied in by
    name (what `caffe train -weights` does; layers the start file lacks, such
    as attention units a transfer leaves to their fillers, keep a draw of
    the same fillers). Blob shapes are checked first: Caffe aborts on a
    mismatch."""
    if not os.path.isfile(start_path):
        raise UserError("%s %s: file not found" % (option, start_path))
    trained = _model_shapes(trained_path, "trained weights")
    param = prototxt.render_deploy(name, num_output=trained[prototxt.CLASSIFIER][0][0])
    caffe = prototxt.import_caffe()
    caffe.set_random_seed(int(seed))
    net = prototxt.build(param, "TEST")
    start = _model_shapes(start_path, option)
    bad = ["%s: weights %s, net %s" % (layer, start[layer], [b.data.shape for b in blobs])
           for layer, blobs in net.params.items() if layer in start
           and (len(start[layer]) != len(blobs)
                or not all(_fits(s, b.data.shape) for s, b in zip(start[layer], blobs)))]
    if bad:
        raise UserError("%s %s does not fit %s, blob shapes differ: %s"
                        % (option, start_path, name, "; ".join(bad[:4])))
    net.copy_from(str(start_path))
    return net, class_names(trained[prototxt.CLASSIFIER][0][0])
