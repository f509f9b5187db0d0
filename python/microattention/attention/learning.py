"""Did the attention units learn? The relative change of each attention
stage's learned weights between two caffemodels (the fold's starting
weights and its trained ones), and the spatial spread of a mask over faces.

An attention unit whose weights barely moved from their filler cannot show
anything about what training makes it attend to: its maps are those of a
random projection. These two numbers say whether a map is worth scoring.
"""
import collections
import re

import numpy as np

from microattention.errors import UserError
from microattention.nets import caffemodel, prototxt, sidecar

ATTENTION = "attention_%d"   # the map names of attention.maps


def _stage_name(layer_name):
    stages = [int(s) for s in re.findall(r"\d+", layer_name) if int(s) in prototxt.STAGES]
    return ATTENTION % stages[0] if stages else layer_name


def _unit_chain(layers, sigmoid_index):
    """Names of the layers that compute the Sigmoid's input, walking back
    from it through single-input layers (in-place ones included) until a
    layer with several inputs (the unit's Concat, or the block's Eltwise sum
    for the complex attention of [29]), which is not part of the unit."""
    blob = layers[sigmoid_index].bottom[0]
    chain = []
    for layer in reversed(layers[:sigmoid_index]):
        if blob not in layer.top:
            continue
        if len(layer.bottom) != 1:
            break
        chain.append(layer.name)
        blob = layer.bottom[0]
    return chain


def _blob_count(layer):
    """How many blobs Caffe gives a layer (bias_term counted: the averaging
    convolution has no bias, so its lr_mult 0 is its only one)."""
    if layer.type == "Convolution":
        return 1 + int(layer.convolution_param.bias_term)
    if layer.type == "InnerProduct":
        return 1 + int(layer.inner_product_param.bias_term)
    if layer.type == "Scale":
        return 1 + int(layer.scale_param.bias_term)
    return 0   # BatchNorm's statistics are not learned; others hold no weights


def learned_mults(param):
    """{layer name: [lr_mult of each blob it has]} (prototxt.lr_mults cut to
    the layer's blobs; BatchNorm statistics count as not learned)."""
    mults = prototxt.lr_mults(param)
    return {layer.name: mults.get(layer.name, [])[:_blob_count(layer)]
            for layer in param.layer}


def attention_layers(param):
    """OrderedDict stage (attention_<C>) -> names of the layers with learned
    weights (some lr_mult > 0) of each attention unit of a NetParameter: the
    layers that compute its Sigmoid's input. For micro-attention that is the
    embedding W* (mask_Concat_C_1x1); the averaging 1x1 convolution has
    lr_mult 0 and is left out."""
    layers = list(param.layer)
    mults = learned_mults(param)
    out = collections.OrderedDict()
    for i, layer in enumerate(layers):
        if layer.type != "Sigmoid":
            continue
        learned = [name for name in reversed(_unit_chain(layers, i))
                   if any(m > 0 for m in mults.get(name, []))]
        if learned:
            out[_stage_name(layer.name)] = learned
    return out


def _learned_arrays(model, names, path, mults):
    """The learned blobs (lr_mult > 0) of layers `names` of a caffemodel."""
    arrays = []
    for name in names:
        if name not in model:
            raise UserError("%s holds no layer %s: not a model of this net" % (path, name))
        blobs = model[name][1]
        arrays.extend(b for b, m in zip(blobs, mults[name]) if m > 0)
    return arrays


def relative_change(start, end):
    """||end - start|| / ||start|| over lists of arrays taken as one vector."""
    if len(start) != len(end):
        raise ValueError("%d arrays against %d" % (len(start), len(end)))
    diff = base = 0.0
    for a, b in zip(start, end):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape:
            raise ValueError("array shapes differ: %s and %s" % (a.shape, b.shape))
        diff += float(np.sum((b - a) ** 2))
        base += float(np.sum(a ** 2))
    if base == 0:
        raise ValueError("the starting weights are all zero; a relative change is undefined")
    return float(np.sqrt(diff / base))


def weight_change(start_caffemodel, end_caffemodel, net, unknown_start=False):
    """OrderedDict stage (attention_<C>) -> ||W_end - W_start|| / ||W_start||
    of the stage's learned weights (all its learned blobs as one vector),
    between two caffemodels of `net` (one of prototxt.NETS or a prototxt
    path). Empty for a net without attention units (ResNet-10). Read without
    Caffe's runtime (only its protobuf module). A start caffemodel without a
    stage's layers is an error, or with `unknown_start` gives None for the
    stage (a transfer that left the units to Caffe's fillers: their starting
    draw is in no file)."""
    param = prototxt.load(net)
    stages = attention_layers(param)
    if not stages:
        return collections.OrderedDict()
    mults = learned_mults(param)
    start = caffemodel.read_caffemodel(str(start_caffemodel))
    end = caffemodel.read_caffemodel(str(end_caffemodel))
    out = collections.OrderedDict()
    for stage, names in stages.items():
        if unknown_start and any(name not in start for name in names):
            out[stage] = None
            continue
        before = _learned_arrays(start, names, start_caffemodel, mults)
        after = _learned_arrays(end, names, end_caffemodel, mults)
        try:
            out[stage] = relative_change(before, after)
        except ValueError as exc:
            raise UserError("%s against %s, %s: %s"
                            % (start_caffemodel, end_caffemodel, stage, exc))
    return out


def _fillers(layer):
    """(weight filler, bias filler) of a Convolution, InnerProduct or Scale layer."""
    if layer.type == "Convolution":
        return layer.convolution_param.weight_filler, layer.convolution_param.bias_filler
    if layer.type == "InnerProduct":
        return layer.inner_product_param.weight_filler, layer.inner_product_param.bias_filler
    if layer.type == "Scale":
        return layer.scale_param.filler, layer.scale_param.bias_filler
    raise ValueError("layer %s (%s): no filler known" % (layer.name, layer.type))


def draw(filler, shape, rng):
    """A float32 array of `shape` drawn as Caffe's filler of that type draws
    it (the same distribution, from numpy's stream): constant, gaussian,
    msra and xavier, with Caffe's default fan-in (count / shape[0])."""
    count = int(np.prod(shape))
    fan_in = count / shape[0] if len(shape) > 1 else count
    kind = filler.type or "constant"
    if kind == "constant":
        return np.full(shape, filler.value, np.float32)
    if filler.variance_norm != filler.FAN_IN and kind in ("msra", "xavier"):
        raise ValueError("%s filler with variance_norm other than FAN_IN" % kind)
    if kind == "gaussian":
        return rng.normal(filler.mean, filler.std, shape).astype(np.float32)
    if kind == "msra":
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
    if kind == "xavier":
        scale = np.sqrt(3.0 / fan_in)
        return rng.uniform(-scale, scale, shape).astype(np.float32)
    raise ValueError("filler type %s is not drawn here" % kind)


def draw_units(start_caffemodel, out, net, seed):
    """Write `out`: the start caffemodel with every attention unit's learned
    layers it lacks drawn from their fillers with numpy seed `seed`, and a
    provenance record linking it to the start (the transfer chain stays
    traceable). A fold started from `out` has its iteration-0 units in a
    file, so their weight change can be measured; another seed per fold gives
    each fold its own initialisation. Returns the names of the drawn layers."""
    param = prototxt.load(net)
    model = caffemodel.read_caffemodel(str(start_caffemodel))
    wanted = [n for names in attention_layers(param).values() for n in names
              if n not in model]
    shapes = {}
    if wanted:
        built = prototxt.build(prototxt.render_deploy(net))
        shapes = {n: [b.data.shape for b in built.params[n]] for n in wanted}
        del built
    rng = np.random.RandomState(int(seed))
    layers = {layer.name: layer for layer in param.layer}
    for name in wanted:
        fillers = _fillers(layers[name])
        model[name] = (layers[name].type, [draw(f, shape, rng)
                                           for f, shape in zip(fillers, shapes[name])])
    caffemodel.write_caffemodel(model, str(out), name="%s_units_drawn" % net)
    sidecar.write_provenance(str(out), "draw-attention-units", {"in": str(start_caffemodel)},
                             collections.OrderedDict([("net", net), ("seed", int(seed)),
                                                      ("drawn", wanted)]))
    return wanted


def mask_spread(maps):
    """The mean over faces of the per-face standard deviation of an
    attention mask (each a 2-D array at the mask's own resolution): 0 for a
    mask that is the same everywhere on every face, i.e. attends to nothing
    in particular."""
    spreads = [float(np.std(np.asarray(m, np.float64))) for m in maps]
    if not spreads:
        raise ValueError("mask_spread needs at least one map")
    return float(np.mean(spreads))
