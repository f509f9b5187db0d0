#!/usr/bin/env python3
"""Write the committed prototxt of the three networks (prototxt/*/).

    python3 tools/make_prototxt.py            # rewrite prototxt/{resnet10,micro_attention,complex_attention}/
    python3 tools/make_prototxt.py --check    # exit 1 if a committed file differs from what this writes

The committed files are the source of truth that stock `caffe` loads; this
script only exists so that the three nets stay consistent with each other. It
needs no Caffe (plain text), so it runs anywhere with Python 3.

Layer names:
  * backbone: the pre-activation ResNet-10 of the cvjena model zoo
    (ResNet_preact/ResNet10_cvgj: data_bn, data_scale, conv1, conv1_bn, ...,
    layer_<C>_1_conv1, layer_<C>_1_conv_expand, last_bn, global_pool), so the
    ImageNet weights load by name;
  * micro-attention unit: the layer names this project uses for the unit (not checked
    against the authors' files, see docs/authors-prototxt.md)
    (mask_Concat_<C>, mask_Concat_<C>_1x1, mask_Concat_<C>_1x1_one,
    mask_Concat_<C>_1x1_one_sig, mask_Concat_<C>_1x1_more,
    layer_<C>_1_sum_multip, layer_<C>_1_sum2);
  * classifier: `classifier-Expressions` in all three nets, so that the
    pre-trained (macro-expression) classifier moves between them by name and
    the 1000-way ImageNet classifier (`score`) is never loaded into it.

Each net's train_val.prototxt has the batch sizes of the fine-tuning protocol
prototxt.DEFAULT_PROTOCOL; a protocol of microattention.protocols with other batch
sizes (pre-training 50, CDE 8) gets prototxt/<its net>/train_val_<protocol>.prototxt,
which its committed solver (tools/make_solvers.py) trains.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
from microattention import augment, files, protocols  # noqa: E402  (plain Python; no Caffe needed here)
from microattention.nets import prototxt  # noqa: E402

STAGES = prototxt.STAGES
CLASSIFIER = prototxt.CLASSIFIER
NUM_CLASSES = 5
TRAIN_SOURCE = prototxt.DEFAULT_TRAIN_SOURCE
TEST_SOURCE = prototxt.DEFAULT_TEST_SOURCE


def _block(lines, indent=0):
    pad = "  " * indent
    return "".join(pad + line + "\n" for line in lines)


def layer(name, type_, bottoms=(), tops=(), body=""):
    out = ["layer {", '  name: "%s"' % name, '  type: "%s"' % type_]
    out += ['  bottom: "%s"' % b for b in bottoms]
    out += ['  top: "%s"' % t for t in tops]
    text = _block(out)
    text += body
    text += "}\n"
    return text


def frozen_params(n):
    return "".join("  param { lr_mult: 0 decay_mult: 0 }\n" for _ in range(n))


def batchnorm(name, bottom, top):
    # Statistics are not learned: lr_mult 0 (Caffe 1.0 would force it anyway).
    # use_global_stats is left to its phase default (false in TRAIN, true in TEST).
    return layer(name, "BatchNorm", [bottom], [top], frozen_params(3))


def scale(name, blob):
    return layer(name, "Scale", [blob], [blob],
                 "  param { lr_mult: 1 decay_mult: 1 }\n"
                 "  param { lr_mult: 2 decay_mult: 1 }\n"
                 "  scale_param { bias_term: true }\n")


def relu(name, blob):
    return layer(name, "ReLU", [blob], [blob])


def sigmoid(name, bottom, top):
    return layer(name, "Sigmoid", [bottom], [top])


def conv(name, bottom, top, num_output, kernel, stride=1, pad=0, bias=False,
         filler='type: "msra"', params=None):
    if params is None:
        params = "  param { lr_mult: 1 decay_mult: 1 }\n"
        if bias:
            params += "  param { lr_mult: 2 decay_mult: 1 }\n"
    cp = ["  convolution_param {",
          "    num_output: %d" % num_output]
    if not bias:
        cp.append("    bias_term: false")
    cp += ["    pad: %d" % pad,
           "    kernel_size: %d" % kernel,
           "    stride: %d" % stride,
           "    weight_filler { %s }" % filler]
    if bias:
        cp.append('    bias_filler { type: "constant" value: 0 }')
    cp.append("  }")
    return layer(name, "Convolution", [bottom], [top], params + _block(cp))


def eltwise(name, bottoms, top, op):
    return layer(name, "Eltwise", bottoms, [top],
                 "  eltwise_param { operation: %s }\n" % op)


def comment(text):
    return "".join("# " + line + "\n" if line else "#\n" for line in text.split("\n"))


# --------------------------------------------------------------------------- nets

def stem():
    out = comment("Input normalisation (BatchNorm + Scale on the raw 0-255 gray image, no mean\n"
                  "file), then conv 7x7/2 with bias, BN/Scale/ReLU, max-pool 3x3/2 (ceil: 112 -> 56).")
    out += batchnorm("data_bn", "data", "data_bn")
    out += scale("data_scale", "data_bn")
    out += conv("conv1", "data_bn", "conv1", 64, 7, stride=2, pad=3, bias=True,
                filler='type: "msra" variance_norm: FAN_OUT')
    out += batchnorm("conv1_bn", "conv1", "conv1")
    out += scale("conv1_scale", "conv1")
    out += relu("conv1_relu", "conv1")
    out += layer("conv1_pool", "Pooling", ["conv1"], ["conv1_pool"],
                 "  pooling_param { pool: MAX kernel_size: 3 stride: 2 }\n")
    return out


def residual_block(c, inp):
    """One pre-activation residual block; returns (text, sum blob, shortcut blob)."""
    p = "layer_%d_1_" % c
    out = ""
    if c == 64:
        out += comment("Stage %d: one residual block, identity shortcut (conv1_pool is already\n"
                       "BN/Scale/ReLU'd by the stem)." % c)
        first_in, stride, shortcut = inp, 1, inp
    else:
        out += comment("Stage %d: one pre-activation residual block, 1x1 stride-2 conv_expand shortcut."
                       % c)
        out += batchnorm(p + "bn1", inp, p + "bn1")
        out += scale(p + "scale1", p + "bn1")
        out += relu(p + "relu1", p + "bn1")
        first_in, stride, shortcut = p + "bn1", 2, p + "conv_expand"
    out += conv(p + "conv1", first_in, p + "conv1", c, 3, stride=stride, pad=1)
    out += batchnorm(p + "bn2", p + "conv1", p + "conv1")
    out += scale(p + "scale2", p + "conv1")
    out += relu(p + "relu2", p + "conv1")
    out += conv(p + "conv2", p + "conv1", p + "conv2", c, 3, stride=1, pad=1)
    if c != 64:
        out += conv(p + "conv_expand", p + "bn1", p + "conv_expand", c, 1, stride=2, pad=0)
    out += eltwise(p + "sum", [p + "conv2", shortcut], p + "sum", "SUM")
    return out, p + "sum", shortcut


def micro_attention_unit(c, sum_blob, shortcut):
    p = "layer_%d_1_" % c
    m = "mask_Concat_%d" % c
    out = comment(
        "Micro-attention unit (paper eq. 1-2; wiring as recorded from the authors'\n"
        "prototxt, see docs/authors-prototxt.md):\n"
        "  concat(shortcut, conv1 after its in-place BN/Scale/ReLU, raw conv2) = 3C channels,\n"
        "  1x1 conv 3C -> C (W*, learned), 1x1 conv C -> 1 with constant weights 1/C and\n"
        "  lr_mult 0 (the channel average; Reduction cannot average per pixel), Sigmoid,\n"
        "  Tile back to C channels, O = T * M + T with T = %s." % sum_blob)
    out += layer(m, "Concat", [shortcut, p + "conv1", p + "conv2"], [m],
                 "  concat_param { axis: 1 }\n")
    out += conv(m + "_1x1", m, m + "_1x1", c, 1)
    out += conv(m + "_1x1_one", m + "_1x1", m + "_1x1_one", 1, 1,
                filler='type: "constant" value: %r' % (1.0 / c),
                params="  param { lr_mult: 0 decay_mult: 0 }\n")
    out += sigmoid(m + "_1x1_one_sig", m + "_1x1_one", m + "_1x1_one_sig")
    out += layer(m + "_1x1_more", "Tile", [m + "_1x1_one_sig"], [m + "_1x1_more"],
                 "  tile_param { axis: 1 tiles: %d }\n" % c)
    out += eltwise(p + "sum_multip", [sum_blob, m + "_1x1_more"], p + "sum_multip", "PROD")
    out += eltwise(p + "sum2", [sum_blob, p + "sum_multip"], p + "sum2", "SUM")
    return out, p + "sum2"


def complex_attention_unit(c, sum_blob):
    p = "layer_%d_1_" % c
    a = p + "att_"
    out = comment(
        "RECONSTRUCTED 'complex attention' of [29] (Peng, Wang, Chen, FG 2018): no code or\n"
        "layer list is published. Project choice: an attention branch on the block output T\n"
        "of two 3x3 C -> C convolutions (BN/Scale/ReLU between them), a sigmoid mask M with\n"
        "C channels and the same combination O = T * M + T as the micro-attention unit.")
    out += conv(a + "conv1", sum_blob, a + "conv1", c, 3, pad=1)
    out += batchnorm(a + "bn1", a + "conv1", a + "conv1")
    out += scale(a + "scale1", a + "conv1")
    out += relu(a + "relu1", a + "conv1")
    out += conv(a + "conv2", a + "conv1", a + "conv2", c, 3, pad=1)
    out += sigmoid(a + "sig", a + "conv2", a + "sig")
    out += eltwise(p + "sum_multip", [sum_blob, a + "sig"], p + "sum_multip", "PROD")
    out += eltwise(p + "sum2", [sum_blob, p + "sum_multip"], p + "sum2", "SUM")
    return out, p + "sum2"


def body(kind):
    out = stem()
    blob = "conv1_pool"
    for c in STAGES:
        text, sum_blob, shortcut = residual_block(c, blob)
        out += text
        if kind == "micro_attention":
            text, sum_blob = micro_attention_unit(c, sum_blob, shortcut)
            out += text
        elif kind == "complex_attention":
            text, sum_blob = complex_attention_unit(c, sum_blob)
            out += text
        blob = sum_blob
    out += comment("Head: final pre-activation BN/Scale/ReLU, global average pooling, classifier.")
    out += batchnorm("last_bn", blob, blob)
    out += scale("last_scale", blob)
    out += relu("last_relu", blob)
    out += layer("global_pool", "Pooling", [blob], ["global_pool"],
                 "  pooling_param { pool: AVE global_pooling: true }\n")
    out += layer(CLASSIFIER, "InnerProduct", ["global_pool"], [CLASSIFIER],
                 "  param { lr_mult: 1 decay_mult: 1 }\n"
                 "  param { lr_mult: 2 decay_mult: 1 }\n"
                 "  inner_product_param {\n"
                 "    num_output: %d\n"
                 '    weight_filler { type: "msra" }\n'
                 '    bias_filler { type: "constant" value: 0 }\n'
                 "  }\n" % NUM_CLASSES)
    return out


TITLES = {
    "resnet10": "Pre-activation ResNet-10 without attention ([17]; cvjena ResNet10_cvgj layout)",
    "micro_attention": "ResNet-10 with a micro-attention unit in each of the four residual blocks "
                       "(Wang et al. 2020)",
    "complex_attention": "ResNet-10 with the 'complex attention' of [29] -- a RECONSTRUCTION, "
                         "see the comments at each unit",
}


def header(kind, which):
    text = ("%s\n%s, 1 gray input channel %dx%d, %d classes.\n"
            "Generated by tools/make_prototxt.py; the committed file is what caffe loads.\n"
            "tools that render nets (microattention.nets) change the classifier's num_output\n"
            "(3 for SMIC), batch sizes and LMDB sources; layer names must not change."
            % (TITLES[kind], which, augment.CROP_SIZE, augment.CROP_SIZE, NUM_CLASSES))
    return comment(text) + 'name: "%s"\n' % kind


def train_val(kind, batch, test_batch, fname="train_val.prototxt"):
    which = fname[:-len(".prototxt")]
    users = [p for p in protocols.NAMES if prototxt.train_val_name(p) == fname]
    out = header(kind, which)
    out += comment(
        "Data: LMDB of caffe_pb2.Datum, 1 channel uint8 0-255 (no mean, no scaling: data_bn\n"
        "normalises). Sources relative to the project root (run caffe from there):\n"
        "%s (%dx%d images, random %d crop) and %s (%dx%d, no crop).\n"
        "Batch %d (training) / %d (test): protocol%s %s of microattention.protocols."
        % (TRAIN_SOURCE, augment.FACE_SIZE, augment.FACE_SIZE, augment.CROP_SIZE, TEST_SOURCE,
           augment.CROP_SIZE, augment.CROP_SIZE, batch, test_batch, "s" if len(users) > 1 else "",
           ", ".join(users)))
    out += layer("data", "Data", [], ["data", "label"],
                 "  include { phase: TRAIN }\n"
                 "  transform_param { crop_size: %d mirror: false }\n"
                 '  data_param { source: "%s" backend: LMDB batch_size: %d }\n'
                 % (augment.CROP_SIZE, TRAIN_SOURCE, batch))
    out += layer("data", "Data", [], ["data", "label"],
                 "  include { phase: TEST }\n"
                 "  transform_param { mirror: false }\n"
                 '  data_param { source: "%s" backend: LMDB batch_size: %d }\n'
                 % (TEST_SOURCE, test_batch))
    out += body(kind)
    out += comment("Loss and test accuracy.")
    out += layer("loss", "SoftmaxWithLoss", [CLASSIFIER, "label"], ["loss"])
    out += layer("accuracy", "Accuracy", [CLASSIFIER, "label"], ["accuracy"],
                 "  include { phase: TEST }\n")
    return out


def deploy(kind):
    out = header(kind, "deploy")
    out += layer("data", "Input", [], ["data"],
                 "  input_param { shape { dim: 1 dim: 1 dim: %d dim: %d } }\n"
                 % (augment.CROP_SIZE, augment.CROP_SIZE))
    out += body(kind)
    out += layer("prob", "Softmax", [CLASSIFIER], ["prob"])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="compare with the committed files instead of writing them")
    args = ap.parse_args(argv)
    status = 0
    outputs = [(kind, "deploy.prototxt", deploy(kind)) for kind in prototxt.NETS]
    outputs += [(kind, fname, train_val(kind, batch, test_batch, fname))
                for kind, fname, batch, test_batch in prototxt.committed_train_vals()]
    for kind, fname, text in sorted(outputs):
        path = os.path.join(ROOT, "prototxt", kind, fname)
        if not files.write_or_check(path, text, args.check, ROOT):
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
