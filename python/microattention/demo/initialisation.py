"""A fold's own start weights for the attention experiment: the transferred
weights with every layer the transfer left at its filler (the attention
units: the transfer's source, ResNet-10, has none) filled in from a
fold-specific seed, by the filler the net's prototxt names. Caffe would fill
those layers itself when it loads the weights, from the solver's
random_seed; written out, each fold's initialisation is a file: seeded
(same seed, same bytes), recorded in the fold's provenance by its sha256,
and the start that the attention units' weight change is measured from."""
import collections
import pathlib

import numpy as np

from microattention import files
from microattention.errors import UserError
from microattention.nets import prototxt
from microattention.nets.caffemodel import read_caffemodel, write_caffemodel
from microattention.nets.shapes import target_shapes
from microattention.nets.sidecar import layers_record, write_provenance


def fan(shape, norm):
    """Caffe's fan for the msra / xavier fillers of a blob of `shape`:
    fan_in = count / num, fan_out = count / channels, or their average."""
    count = float(np.prod(shape))
    fan_in = count / shape[0]
    fan_out = count / shape[1] if len(shape) > 1 else count
    return {"FAN_IN": fan_in, "FAN_OUT": fan_out, "AVERAGE": (fan_in + fan_out) / 2.0}[norm]


def draw(filler, shape, rng, layer):
    """One blob drawn as Caffe's filler of that type would draw it (the same
    distribution; the values are numpy's)."""
    norm = prototxt.pb().FillerParameter.VarianceNorm.Name(filler.variance_norm)
    kind = filler.type or "constant"
    if kind == "constant":
        return np.full(shape, filler.value, np.float32)
    if kind == "msra":
        return rng.normal(0.0, np.sqrt(2.0 / fan(shape, norm)), shape).astype(np.float32)
    if kind == "xavier":
        bound = np.sqrt(3.0 / fan(shape, norm))
        return rng.uniform(-bound, bound, shape).astype(np.float32)
    if kind == "gaussian":
        return rng.normal(filler.mean, filler.std, shape).astype(np.float32)
    raise UserError("layer %s: filler type %r is not one the attention fill draws (constant, "
                    "msra, xavier, gaussian)" % (layer, kind))


def layer_fillers(layer):
    """The fillers of a Convolution / InnerProduct layer's blobs, in order."""
    if layer.type == "Convolution":
        p = layer.convolution_param
    elif layer.type == "InnerProduct":
        p = layer.inner_product_param
    else:
        raise UserError("layer %s (%s): the attention fill draws only Convolution and "
                        "InnerProduct layers" % (layer.name, layer.type))
    return [p.weight_filler] + ([p.bias_filler] if p.bias_term else [])


def fill_missing(transferred, net, seed, out, num_output=5):
    """Write `out`: the caffemodel `transferred` plus every layer with weights
    of `net` that it lacks, drawn from numpy's RandomState(seed) by the
    layer's own fillers, in the net's layer order. Returns the names filled."""
    param = prototxt.render_deploy(net, num_output=num_output)
    shapes = {name: blobs for name, (_, blobs) in target_shapes(net, num_output).items()}
    model = read_caffemodel(str(transferred))
    rng = np.random.RandomState(seed)
    filled = collections.OrderedDict()
    for layer in param.layer:
        if layer.name not in shapes or layer.name in model:
            continue
        fillers = layer_fillers(layer)
        filled[layer.name] = (layer.type, [draw(f, s, rng, layer.name)
                                           for f, s in zip(fillers, shapes[layer.name])])
    complete = type(model)((name, model[name] if name in model else filled[name])
                           for name in shapes if name in model or name in filled)
    files.output_dir(pathlib.Path(out).parent)
    write_caffemodel(complete, str(out), name="%s_transfer_filled_seed%d" % (net, seed))
    write_provenance(str(out), "attention-fill", {"from": str(transferred)},
                     collections.OrderedDict([("to", net), ("num_output", num_output),
                                              ("seed", int(seed)),
                                              ("filled", list(filled)),
                                              ("rule", "numpy RandomState(seed), each layer's "
                                                       "own Caffe filler, net order")]),
                     layers_record([n for n in complete if n not in filled], list(filled), []))
    return list(filled)
