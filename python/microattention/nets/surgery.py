"""Net surgery and transfer checks (paper 3.3): the cvjena ImageNet ResNet-10
folded to one gray input channel (to_gray), a source model's layers matched
by name and shape to a target net (match), and the checks that refuse a
truncated source or a --to-prototxt of another net.
"""
import numpy as np

from microattention.errors import UserError
from microattention.nets import prototxt
from microattention.nets.caffemodel import Model

SURGERY_LAYERS = ("data_bn", "data_scale", "conv1")


# ------------------------------------------------------------ which net

def param_layers(net):
    """Names of the layers of one of our nets that store blobs, in order."""
    return [n for n, mults in prototxt.lr_mults(prototxt.load(net, "deploy")).items() if mults]


def prototxt_net(param):
    """Which of our nets a NetParameter is (the same layers with weights, by
    name), or None for a net of another design."""
    names = [n for n, mults in prototxt.lr_mults(param).items() if mults]
    return next((n for n in prototxt.NETS if set(param_layers(n)) == set(names)), None)


def check_target(net, prototxt_file, param):
    """The net a transfer writes for: --to, checked against --to-prototxt
    when both are given (weights transferred into the prototxt of another
    net would be recorded as the --to net). Returns the name to record."""
    found = prototxt_net(param) if prototxt_file else None
    if net and prototxt_file and found != net:
        raise UserError("--to-prototxt %s is %s, not --to %s: give the prototxt of %s, or "
                        "drop --to" % (prototxt_file, "the prototxt of " + found if found else
                                       "a net of another design (its layers with weights "
                                       "are not those of any of %s)" % ", ".join(prototxt.NETS),
                                       net, net))
    if prototxt_file:
        return found or "prototxt"
    return net or "micro_attention"


def source_net(model):
    """The smallest of our nets that has every layer of `model` that any of
    our nets has (None when the model shares no layer name with them)."""
    known = {n: param_layers(n) for n in prototxt.NETS}
    ours = set(model) & set().union(*known.values())
    fits = [n for n in prototxt.NETS if ours and ours <= set(known[n])]
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
    if missing == [prototxt.CLASSIFIER]:
        hint = (" If the source never had it (e.g. the imagenet-to-gray output, or another "
                "class count), use --reinit-classifier.")
    raise UserError(
        "%s lacks %d layer(s) with weights that its net (%s) has and the target needs: %s. "
        "The file is truncated or incomplete (a cut download or copy?); these layers would "
        "silently start from their fillers.%s"
        % (path, len(missing), src, ", ".join(missing), hint))


# ------------------------------------------------------------ match by name

def shapes_match(src, dst_shape):
    """Caffe's rule: exact shape, or a legacy 4-D blob equal to the target
    shape padded with leading 1s."""
    if tuple(src.shape) == tuple(dst_shape):
        return True
    if src.ndim == 4 and len(dst_shape) <= 4:
        padded = (1,) * (4 - len(dst_shape)) + tuple(dst_shape)
        return tuple(src.shape) == padded
    return False


def match(model, shapes, reinit=()):
    """Split the target's layers into copied / fresh and list source layers not
    used. Raises UserError on a shape mismatch (unless the layer is in reinit)."""
    copied, fresh, errors = Model(), [], []
    for name, (ltype, dshapes) in shapes.items():
        if name in reinit or name not in model:
            fresh.append(name)
            continue
        stype, arrays = model[name]
        if len(arrays) != len(dshapes) or not all(shapes_match(a, s) for a, s in zip(arrays, dshapes)):
            errors.append("  %s: source %s, target %s" % (
                name, [tuple(a.shape) for a in arrays], dshapes))
            continue
        copied[name] = (ltype, [a.reshape(s) for a, s in zip(arrays, dshapes)])
    if errors:
        hint = ""
        if any(e.strip().startswith(prototxt.CLASSIFIER + ":") for e in errors):
            hint = "\n(the class count differs: use --reinit-classifier to start %s from its filler)" \
                   % prototxt.CLASSIFIER
        raise UserError("blob shapes differ between source and target for:\n%s%s"
                           % ("\n".join(errors), hint))
    unused = [n for n in model if n not in shapes]
    return copied, fresh, unused


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
    m, v, eps, g, h, w, b = _rgb_input_layers(model)
    a = g / np.sqrt(v + eps)
    d = h - a * m
    m_g, v_g = float(m.mean()), float(v.mean())
    s_g = np.sqrt(v_g + target_eps)
    folded = np.einsum("c,ocij->oij", a, w)                 # sum_c a_c W[o,c,k]
    w_new = (s_g * folded)[:, None, :, :]
    b_new = b + np.einsum("c,oc->o", d, w.sum(axis=(2, 3))) + m_g * folded.sum(axis=(1, 2))
    f32 = np.float32
    out = Model((k, v) for k, v in model.items())
    out["data_bn"] = ("BatchNorm", [np.array([m_g], f32), np.array([v_g], f32), np.array([1.0], f32)])
    out["data_scale"] = ("Scale", [np.ones(1, f32), np.zeros(1, f32)])
    out["conv1"] = ("Convolution", [w_new.astype(f32), b_new.astype(f32)])
    out.eps = dict(model.eps)
    return out


def _rgb_input_layers(model):
    """(m, v, eps, g, h, w, b) of the source's data_bn, data_scale and conv1,
    in float64, checked to be the 3-channel input layers to_gray folds."""
    for name in SURGERY_LAYERS:
        if name not in model:
            raise UserError("the source model has no layer %r: is it the cvjena ResNet?" % name)
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
    return m, v, eps, g, h, w, b
