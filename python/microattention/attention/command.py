"""Feature and attention maps over the face (paper 4.4, Figure 4) and how much
of each map falls on the action units of the sample's class (Table 7).

  visualize --net micro_attention --weights W [--net2 resnet10 --weights2 W2]
            (--images IMG... | --faces DIR [--samples ID_OR_FILE...])
            [--landmarks FILE_OR_DIR] [--labels CLASS... | --labels CSV] --out DIR

Each face (a square gray image, normally a 240x240 crop of the faces command)
is resized to the nets' 224x224 input exactly as the test LMDB does
(augment.resize_for_test) and run through the deploy net in pycaffe. Maps:
  feature        channel mean of the last block's output as global pooling
                 averages it (after the head's in-place BN/Scale/ReLU: the raw
                 residual sum has a sign, so its "mass" is undefined), 7x7;
  attention_C    the Sigmoid output of the attention unit of stage C
                 (64/128/256/512: 56/28/14/7), channel mean (the micro-attention
                 unit has one channel; the complex attention of [29] has C).
Maps are upsampled bilinearly to the face size and drawn as heat maps over it,
one PNG per sample, one row per net (with --net2 the two nets one above the
other, the comparison of Figure 4).

Given 68-point iBUG landmarks (faces.csv's landmarks column, or --landmarks)
and the sample's class, each map is scored: score = share of the map's mass
inside the union of the regions of the class's action units (REGION_AUS);
area = the regions' share of the face, i.e. the score of a uniform map;
lift = score / area. OUT/scores.csv (one row per sample, net and map) and
OUT/scores.md (per sample and per class) are written with the PNGs, all
together or none.
"""
import collections
import os
import re

import numpy as np

from microattention import files
from microattention.attention.maps import forward, load_net, score_maps
from microattention.attention.regions import REGION_AUS, lift, region_mask
from microattention.attention.render import render
from microattention.attention.samples import collect_samples, known_class, read_face, read_pts
from microattention.attention.tables import scores_tables
from microattention.errors import UserError
from microattention.nets import prototxt

SCORES_CSV = "scores.csv"
SCORES_MD = "scores.md"


def safe_name(sample):
    """The file name (without .png) of a sample's picture."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", sample).strip("_") or "sample"


def add_arguments(parser):
    parser.add_argument("--net", required=True, choices=prototxt.NETS, help="first net")
    parser.add_argument("--weights", required=True, metavar="W", help="its caffemodel")
    parser.add_argument("--net2", choices=prototxt.NETS, help="second net, drawn below the first")
    parser.add_argument("--weights2", metavar="W2", help="the second net's caffemodel")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", nargs="+", metavar="IMG",
                        help="square gray face crops (name = sample id)")
    source.add_argument("--faces", metavar="DIR",
                        help="a folder written by the faces command (faces.csv)")
    parser.add_argument("--samples", nargs="+", metavar="ID_OR_FILE",
                        help="with --faces: only these sample ids (or files listing them)")
    parser.add_argument("--landmarks", metavar="FILE_OR_DIR",
                        help="68-point iBUG .pts: one file (one image) or a folder of "
                             "<image name>.pts; with --faces it overrides faces.csv")
    parser.add_argument("--labels", nargs="+", metavar="CLASS_OR_CSV",
                        help="the samples' classes: one name per --images, or an index CSV "
                             "(or a CSV with sample_id, label)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")


def run(args):
    if bool(args.net2) != bool(args.weights2):
        raise UserError("--net2 and --weights2 go together")
    if args.samples and not args.faces:
        raise UserError("--samples selects rows of --faces; with --images list the images")
    samples = collect_samples(args)
    loaded = load_samples(args, samples)
    models = [(args.net,) + load_net(args.net, args.weights, "--weights")]
    if args.net2:
        models.append((args.net2,) + load_net(args.net2, args.weights2, "--weights2"))
    out = files.output_dir(args.out)
    check_outputs(args, samples, out)

    outputs, records = collections.OrderedDict(), []
    for sid, face, points, label in loaded:
        outputs[os.path.join(str(out), safe_name(sid) + ".png")] = score_sample(
            sid, face, points, label, models, records)
    csv_text, md_text = scores_tables(records)
    outputs[os.path.join(str(out), SCORES_CSV)] = csv_text
    outputs[os.path.join(str(out), SCORES_MD)] = md_text
    files.write_together(outputs)
    scored = len({r["sample_id"] for r in records if r["score"] is not None})
    print("wrote %d PNG(s), %s and %s to %s (%d of %d sample(s) scored)"
          % (len(loaded), SCORES_CSV, SCORES_MD, out, scored, len(loaded)))
    return 0


def load_samples(args, samples):
    """[(sample id, face, points or None, label or None)], every input read and
    checked before the nets run, so bad input writes nothing."""
    loaded = []
    for sid, image_path, mark, label in samples:
        face = read_face(image_path, "--images" if args.images else "--faces")
        points = read_pts(mark) if mark else None
        if label is not None and not known_class(label):
            raise UserError("--labels: class %r of sample %s is not a known class" % (label, sid))
        if label in REGION_AUS and points is None:
            raise UserError("sample %s: scoring class %s needs 68 landmarks (--landmarks)"
                            % (sid, label))
        loaded.append((sid, face, points, label))
    return loaded


def check_outputs(args, samples, out):
    """The PNGs and tables may be written in `out`: distinct, and none an input."""
    targets = [os.path.join(str(out), safe_name(s[0]) + ".png") for s in samples]
    if len(set(targets)) != len(targets):
        raise UserError("two sample ids give the same PNG name; visualise them separately")
    targets += [os.path.join(str(out), SCORES_CSV), os.path.join(str(out), SCORES_MD)]
    inputs = [args.weights, args.weights2] + [s[1] for s in samples] + [s[2] for s in samples]
    files.check_outputs(targets, inputs)


def score_sample(sid, face, points, label, models, records):
    """One sample through every net: its picture's PNG bytes; its score
    records are appended to `records`."""
    aus = REGION_AUS.get(label)
    mask = region_mask(points, aus, face.shape) if aus and points is not None else None
    rows = []
    for name, net, classes in models:
        maps, prob = forward(net, face)
        k = int(np.argmax(prob))
        row = {"net": name, "pred": "predicted %s %.2f" % (classes[k], prob[k]), "maps": []}
        for key, small, big, score, area in score_maps(maps, mask, face.shape[0]):
            row["maps"].append((key, small, big, score, area))
            records.append({
                "sample_id": sid, "class": label or "",
                "aus": "+".join(map(str, aus)) if aus else "", "net": name, "map": key,
                "resolution": "%dx%d" % small.shape[::-1], "score": score, "area": area,
                "lift": None if score is None else lift(score, area)})
        rows.append(row)
    return render(sid, face, rows, points, mask, label, aus)
