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
import csv
import io
import os
import re

import numpy as np

from microattention import augment, files
from microattention.nets import prototxt as nets
from microattention.faces import aus
from microattention.errors import UserError

# ------------------------------------------------------------------ AU regions
# An AU's region: for each side of the face, the convex hull of the AU's
# landmark points on that side plus its midline points, dilated by AU_MARGIN
# inter-ocular distances (eye-centre distance); the sides' hulls are joined.
# Splitting by side keeps e.g. AU12 at the two mouth corners instead of a
# hull across the whole mouth.
AU_MARGIN = 0.1
# The points each AU moves are those of the demo-data generator's table
# (aus.AU_TABLE, iBUG 0-based, both sides), so the fact lives in one
# place. Added here, for regions only: AUs the demo does not render, and skin
# an AU wrinkles or bulges without moving a landmark.
REGION_EXTRA = {
    4: (27,),                       # brow lowerer: the glabella between the brows
    6: (1, 15, 31, 35),             # cheek raiser: the cheeks below the lower lids
    9: (27, 28, 39, 42),            # nose wrinkler: the nose root between the eyes
    16: (55, 56, 57, 58, 59, 65, 66, 67),   # lower lip depressor: the lower lip
}
# The resulting table (AU -> points) is printed in every scores.md.
AU_LANDMARKS = {
    au: tuple(sorted(set(aus.AU_TABLE.get(au, {})) | set(REGION_EXTRA.get(au, ()))))
    for au in sorted(set(aus.AU_TABLE) | set(REGION_EXTRA))
}
N_POINTS = 68
MIRROR = aus.MIRROR

# The action units scored per class: Table 7 of the paper for disgust, sadness
# and anger; happiness and surprise from the objective-class table (Davison et
# al. 2018: I = AU6, AU12, 6+12, 6+7+12, 7+12; II = 1+2, AU5, AU25, 1+2+25,
# 25+26, 5+24). SMIC's positive is scored as happiness; SMIC's negative pools
# several classes and has no one AU set, so it is not scored.
REGION_AUS = collections.OrderedDict([
    ("happiness", (6, 12)),
    ("surprise", (1, 2, 5, 25, 26)),
    ("anger", (4, 5, 7, 23)),
    ("disgust", (9, 15, 16)),
    ("sadness", (1, 4, 15)),
    ("positive", (6, 12)),
])
UNSCORED = ("negative",)

FEATURE = "feature"
ATTENTION = "attention_%d"
SCORES_CSV = "scores.csv"
SCORES_MD = "scores.md"
CSV_COLUMNS = ("sample_id", "class", "aus", "net", "map", "resolution", "score", "area", "lift")


def _sides(points, index_set):
    """Split AU points into (image-left, image-right, midline) by comparing
    each point with its mirror twin along the eye axis."""
    left_eye, right_eye = aus.eye_centres(points)
    axis = right_eye - left_eye
    proj = points @ axis
    left, right, mid = [], [], []
    for i in index_set:
        twin = MIRROR[i]
        if twin == i:
            mid.append(i)
        elif proj[i] < proj[twin]:
            left.append(i)
        else:
            right.append(i)
    return left, right, mid


def au_mask(points, au, shape, margin=AU_MARGIN):
    """Boolean (H, W) mask of one AU's region for 68 (x, y) pixel points."""
    import cv2
    if au not in AU_LANDMARKS:
        raise ValueError("AU%d has no region (known: %s)" % (au, ", ".join(map(str, AU_LANDMARKS))))
    points = np.asarray(points, dtype=np.float64)
    left, right, mid = _sides(points, AU_LANDMARKS[au])
    groups = [g + mid for g in (left, right) if g] or [mid]
    hull = np.zeros(shape, np.uint8)
    for group in groups:
        # Pixel centres: fillConvexPoly rounds fixed-point coordinates (4 bits).
        pts = np.round(points[group] * 16).astype(np.int32)
        pts = cv2.convexHull(pts)
        cv2.fillConvexPoly(hull, pts, 1, lineType=cv2.LINE_8, shift=4)
    radius = margin * aus.interocular(points)
    # Distance of every pixel to the hull; the hull dilated by the margin.
    distance = cv2.distanceTransform((1 - hull).astype(np.uint8), cv2.DIST_L2, 5)
    return distance <= radius


def region_mask(points, aus, shape, margin=AU_MARGIN):
    """Union of the regions of several AUs."""
    mask = np.zeros(shape, bool)
    for au in aus:
        mask |= au_mask(points, au, shape, margin)
    return mask


def region_score(map_, mask):
    """Share of a non-negative map's mass inside a boolean mask of its shape
    (nan for a map without mass)."""
    map_ = np.asarray(map_, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if map_.shape != mask.shape:
        raise ValueError("map %s and mask %s differ in shape" % (map_.shape, mask.shape))
    if map_.min() < 0:
        raise ValueError("a map with negative values has no mass share")
    total = map_.sum()
    if total <= 0:
        return float("nan")
    return float(map_[mask].sum() / total)


def lift(score, area):
    """A map's score over the score of a uniform map (the regions' area
    share): 1 = no preference, 1 / area = all mass inside the regions."""
    if not 0 < area <= 1:
        raise ValueError("region area share %r is not in (0, 1]" % (area,))
    return score / area


# ------------------------------------------------------------------ held-out statistics
# The Figure 4 claim as a number: each held-out face's lift, averaged per
# person (faces of one person are not independent), then over people, with a
# percentile bootstrap interval that resamples people.
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_LEVEL = 0.95
BOOTSTRAP_SEED = 0
NO_PREFERENCE = "no preference"
# A percentile bootstrap over fewer people has too few distinct resamples to
# mean anything (1 person: a zero-width interval); no verdict below this.
MIN_PEOPLE = 5


def bootstrap_interval(values, resamples=BOOTSTRAP_RESAMPLES, level=BOOTSTRAP_LEVEL,
                       seed=BOOTSTRAP_SEED):
    """(mean, low, high): the mean of per-person values and the percentile
    interval of the means of `resamples` resamples of the people (with
    replacement), from a fixed seed: the same values give the same bytes."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or not len(values):
        raise ValueError("bootstrap needs a non-empty list of per-person values")
    if not np.all(np.isfinite(values)):
        raise ValueError("bootstrap values must be finite: %s" % values)
    if not 0 < level < 1:
        raise ValueError("interval level %r is not in (0, 1)" % (level,))
    rng = np.random.RandomState(seed)
    picks = rng.randint(0, len(values), size=(int(resamples), len(values)))
    means = values[picks].mean(axis=1)
    tail = 100.0 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(values.mean()), float(low), float(high)


def too_few(people):
    return "too few people for a verdict (%d < %d)" % (people, MIN_PEOPLE)


def preference(low, high, people=MIN_PEOPLE):
    """What a lift interval over `people` says: toward or away from the AU
    regions, or no preference when it contains 1."""
    if people < MIN_PEOPLE:
        return too_few(people)
    if low > 1:
        return "AU regions"
    if high < 1:
        return "away from AU regions"
    return NO_PREFERENCE


def person_means(records, field):
    """OrderedDict person -> mean of records' `field` over that person's
    faces (records without a score are left out)."""
    sums = collections.OrderedDict()
    for r in records:
        if r.get("score") is None:
            continue
        s = sums.setdefault(r["person"], [0.0, 0])
        s[0] += float(r[field])
        s[1] += 1
    return collections.OrderedDict((p, v[0] / v[1]) for p, v in sorted(sums.items()))


def _scored_groups(records):
    """{(regions, net, map): scored records}, in first-seen order."""
    groups = collections.OrderedDict()
    for r in records:
        if r.get("score") is not None:
            groups.setdefault((r["regions"], r["net"], r["map"]), []).append(r)
    return groups


def summarize_heldout(records, resamples=BOOTSTRAP_RESAMPLES, level=BOOTSTRAP_LEVEL,
                      seed=BOOTSTRAP_SEED):
    """One row per (regions, net, map) of the held-out face records (fields
    person, regions, net, map, resolution, score, area, lift): people, faces,
    mean score / area / lift over people and the bootstrap intervals of score
    and lift (the same resamples for both)."""
    groups = _scored_groups(records)
    rows = []
    for (regions, net, key), rs in groups.items():
        scores = person_means(rs, "score")
        lifts = person_means(rs, "lift")
        areas = person_means(rs, "area")
        score, score_low, score_high = bootstrap_interval(list(scores.values()), resamples,
                                                          level, seed)
        mean_lift, low, high = bootstrap_interval(list(lifts.values()), resamples, level, seed)
        rows.append(collections.OrderedDict([
            ("regions", regions), ("net", net), ("map", key),
            ("resolution", rs[0]["resolution"]), ("people", len(lifts)), ("faces", len(rs)),
            ("score", score), ("score_low", score_low), ("score_high", score_high),
            ("area", float(np.mean(list(areas.values())))),
            ("lift", mean_lift), ("lift_low", low), ("lift_high", high),
            ("preference", preference(low, high, len(lifts)))]))
    return rows


def paired_rows(records, baseline=("resnet10", FEATURE), resamples=BOOTSTRAP_RESAMPLES,
                level=BOOTSTRAP_LEVEL, seed=BOOTSTRAP_SEED):
    """Figure 4's comparison: per region set and per map of the other nets,
    the per-person lift minus the baseline map's lift on the same people,
    its mean over people and bootstrap interval (> 0: more on the AU regions
    than the baseline)."""
    groups = _scored_groups(records)
    rows = []
    for (regions, net, key), rs in groups.items():
        base = groups.get((regions,) + tuple(baseline))
        if base is None or (net, key) == tuple(baseline):
            continue
        mine, theirs = person_means(rs, "lift"), person_means(base, "lift")
        people = [p for p in mine if p in theirs]
        if not people:
            continue
        diff, low, high = bootstrap_interval([mine[p] - theirs[p] for p in people],
                                             resamples, level, seed)
        rows.append(collections.OrderedDict([
            ("regions", regions), ("net", net), ("map", key),
            ("baseline", "%s %s" % baseline), ("people", len(people)),
            ("difference", diff), ("low", low), ("high", high),
            ("verdict", too_few(len(people)) if len(people) < MIN_PEOPLE else
             "more than the baseline" if low > 0 else
             "less than the baseline" if high < 0 else "no difference")]))
    return rows


def paired_table(rows, level=BOOTSTRAP_LEVEL):
    pct = int(round(100 * level))
    md = ["| net | map | regions | people | lift minus %s [%d %% CI] | verdict |"
          % (rows[0]["baseline"] if rows else "baseline", pct), "|---|---|---|---:|---|---|"]
    for r in rows:
        md.append("| %s | %s | %s | %d | %+.2f [%+.2f, %+.2f] | %s |" % (
            r["net"], r["map"], r["regions"], r["people"], r["difference"], r["low"],
            r["high"], r["verdict"]))
    return "\n".join(md) + "\n"


HELDOUT_COLUMNS = ("regions", "net", "map", "resolution", "people", "faces", "score",
                   "score_low", "score_high", "area", "lift", "lift_low", "lift_high",
                   "preference")


def heldout_tables(rows, level=BOOTSTRAP_LEVEL, resamples=BOOTSTRAP_RESAMPLES):
    """(CSV text, Markdown table text) of summarize_heldout's rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HELDOUT_COLUMNS)
    for r in rows:
        writer.writerow([_fmt(r[c]) if isinstance(r[c], float) else r[c]
                         for c in HELDOUT_COLUMNS])
    pct = int(round(100 * level))
    md = ["| net | map | regions | people | faces | score [%d %% CI] | area | "
          "lift [%d %% CI] | preference |" % (pct, pct),
          "|---|---|---|---:|---:|---|---:|---|---|"]
    for r in rows:
        md.append("| %s | %s (%s) | %s | %d | %d | %.3f [%.3f, %.3f] | %.3f | "
                  "%.2f [%.2f, %.2f] | %s |" % (
                      r["net"], r["map"], r["resolution"], r["regions"], r["people"],
                      r["faces"], r["score"], r["score_low"], r["score_high"], r["area"],
                      r["lift"], r["lift_low"], r["lift_high"], r["preference"]))
    md += ["", "score: share of the map's mass inside the AU regions; area: the regions' "
           "share of the face (a uniform map's score); lift = score / area (1 = no "
           "preference). Means over held-out people (each person's faces averaged first); "
           "%d %% percentile bootstrap intervals from %d resamples of the people."
           % (pct, resamples)]
    return out.getvalue(), "\n".join(md) + "\n"


# ------------------------------------------------------------------ nets and maps

def map_blobs(net):
    """OrderedDict map name -> blob name of a pycaffe Net: the feature map (the
    input of global pooling) and every Sigmoid output, named by its stage."""
    out = collections.OrderedDict()
    for name, layer in zip(net._layer_names, net.layers):
        if layer.type == "Sigmoid":
            stage = [int(s) for s in re.findall(r"\d+", name) if int(s) in nets.STAGES]
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
    import cv2
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
    from microattention.nets import caffemodel
    param = nets.pb().NetParameter()
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
    is nets.render_deploy(name) for the caffemodel's class count, or the
    deploy prototxt `deploy` (a path) when given."""
    if not os.path.isfile(weights_path):
        raise UserError("%s %s: file not found" % (option, weights_path))
    model = _model_shapes(weights_path, option)
    if nets.CLASSIFIER not in model:
        raise UserError("%s %s holds no %s layer; not a model of our nets"
                        % (option, weights_path, nets.CLASSIFIER))
    num_output = model[nets.CLASSIFIER][0][0]
    if deploy is None:
        param = nets.render_deploy(name, num_output=num_output)
    else:
        try:
            param = nets.read_prototxt(str(deploy))
        except Exception as exc:  # text_format.ParseError
            raise UserError("%s %s is not a net prototxt (%s)" % (option, deploy, exc))
    wanted = _param_layers(param)
    missing = sorted(wanted - set(model))
    extra = sorted(set(model) - wanted)
    if missing or extra:
        like = [n for n in nets.NETS if _param_layers(nets.load(n)) == set(model)]
        raise UserError(
            "%s %s does not fit --net %s: %s%s%s" % (
                option, weights_path, name,
                "missing layer(s) %s" % ", ".join(missing[:6]) if missing else "",
                "; " if missing and extra else "",
                "layer(s) not in %s: %s" % (name, ", ".join(extra[:6])) if extra else "")
            + ("; it looks like a %s model" % like[0] if like else ""))
    net = nets.build(param, "TEST")
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
    from microattention import lmdbs
    for family in ("micro", "smic"):
        if len(lmdbs.CLASSES[family]) == num_output:
            return list(lmdbs.CLASSES[family])
    return ["class %d" % i for i in range(num_output)]


# ------------------------------------------------------------------ inputs

def read_pts(path, option="--landmarks"):
    """(68, 2) 0-based (x, y) pixel points of an iBUG .pts file (1-based, as
    menpo and the faces command write it)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise UserError("%s %s: cannot read: %s" % (option, path, exc.strerror or exc))
    except UnicodeDecodeError:
        raise UserError("%s %s: not a text .pts file" % (option, path))
    if "{" not in text or "}" not in text:
        raise UserError("%s %s: not an iBUG .pts file (no { } block)" % (option, path))
    body = text[text.index("{") + 1:text.rindex("}")]
    try:
        values = [float(v) for v in body.split()]
    except ValueError:
        raise UserError("%s %s: non-numeric coordinates" % (option, path))
    if len(values) % 2:
        raise UserError("%s %s: an odd number of coordinates" % (option, path))
    points = np.array(values).reshape(-1, 2) - 1.0
    if len(points) != N_POINTS:
        raise UserError("%s %s: %d landmarks; the AU regions need the %d iBUG points"
                        % (option, path, len(points), N_POINTS))
    return points


def read_face(path, option):
    import cv2
    if not os.path.isfile(path):
        raise UserError("%s %s: image not found" % (option, path))
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise UserError("%s %s: not an image OpenCV can read" % (option, path))
    if image.shape[0] != image.shape[1]:
        raise UserError("%s %s is %dx%d; give square face crops (the faces command writes "
                        "%dx%d)" % (option, path, image.shape[1], image.shape[0],
                                    augment.FACE_SIZE, augment.FACE_SIZE))
    return image


def _read_csv(path, option):
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            return list(reader), list(reader.fieldnames or ())
    except OSError as exc:
        raise UserError("%s %s: cannot read: %s" % (option, path, exc.strerror or exc))
    except UnicodeDecodeError:
        raise UserError("%s %s: not a UTF-8 CSV" % (option, path))


def read_labels_csv(path):
    """{sample id: class} from an index CSV or a CSV with sample_id, label."""
    from microattention.datasets.common import sample_id
    rows, columns = _read_csv(path, "--labels")
    if "sample_id" in columns and "label" in columns:
        return {r["sample_id"]: r["label"] for r in rows}
    if all(c in columns for c in ("dataset", "subject", "clip", "frame", "label")):
        return {sample_id(r): r["label"] for r in rows}
    raise UserError("--labels %s: expected an index CSV or columns sample_id, label" % path)


def _known_class(label):
    from microattention import lmdbs
    return label in REGION_AUS or any(label in c for c in lmdbs.CLASSES.values())


def collect_samples(args):
    """[(sample id, image path, landmarks path or None, label or None)]."""
    samples = []
    if args.images:
        labels = list(args.labels or ())
        if len(labels) == 1 and os.path.isfile(labels[0]):
            by_name = read_labels_csv(labels[0])
            labels = [by_name.get(os.path.splitext(os.path.basename(p))[0]) for p in args.images]
        elif labels and len(labels) != len(args.images):
            raise UserError("--labels: %d class name(s) for %d image(s); give one per image"
                            % (len(labels), len(args.images)))
        marks = [None] * len(args.images)
        if args.landmarks:
            if os.path.isdir(args.landmarks):
                marks = [os.path.join(args.landmarks,
                                      os.path.splitext(os.path.basename(p))[0] + ".pts")
                         for p in args.images]
            elif len(args.images) == 1:
                marks = [args.landmarks]
            else:
                raise UserError("--landmarks %s: give a folder of <image name>.pts for %d images"
                                % (args.landmarks, len(args.images)))
        seen = set()
        for i, path in enumerate(args.images):
            sid = os.path.splitext(os.path.basename(path))[0]
            if sid in seen:
                raise UserError("--images: two images named %s; names key the outputs" % sid)
            seen.add(sid)
            samples.append((sid, path, marks[i], labels[i] if labels else None))
        return samples
    faces_csv = os.path.join(args.faces, "faces.csv")
    if not os.path.isfile(faces_csv):
        raise UserError("--faces %s: %s not found (write it with the faces command)"
                        % (args.faces, faces_csv))
    rows, columns = _read_csv(faces_csv, "--faces")
    missing = [c for c in ("sample_id", "crop", "status", "landmarks") if c not in columns]
    if missing:
        raise UserError("%s: missing column(s) %s" % (faces_csv, ", ".join(missing)))
    wanted = None
    if args.samples:
        from microattention import lmdbs
        wanted = []
        for value in args.samples:
            wanted += lmdbs.read_samples_file(value) if os.path.isfile(value) else [value]
        known = {r["sample_id"]: r for r in rows}
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise UserError("--samples: %s not in %s" % (", ".join(unknown[:5]), faces_csv))
        bad = [s for s in wanted if known[s]["status"] != "ok"]
        if bad:
            raise UserError("--samples: %s have no face (status in %s)"
                            % (", ".join(bad[:5]), faces_csv))
    labels = {}
    if args.labels:
        if len(args.labels) != 1:
            raise UserError("--labels: with --faces give one index CSV (or sample_id,label CSV)")
        labels = read_labels_csv(args.labels[0])
    order = wanted if wanted is not None else [r["sample_id"] for r in rows if r["status"] == "ok"]
    by_id = {r["sample_id"]: r for r in rows}
    for sid in order:
        row = by_id[sid]
        image = os.path.join(args.faces, row["crop"])
        if args.landmarks:
            stem = os.path.splitext(os.path.basename(row["crop"]))[0]
            mark = os.path.join(args.landmarks, stem + ".pts")
        else:
            mark = os.path.join(args.faces, row["landmarks"]) if row["landmarks"] else None
        if args.labels and sid not in labels:
            raise UserError("--labels %s has no row for sample %s" % (args.labels[0], sid))
        samples.append((sid, image, mark, labels.get(sid)))
    if not samples:
        raise UserError("%s lists no sample with status ok" % faces_csv)
    return samples


# ------------------------------------------------------------------ drawing

def safe_name(sample):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", sample).strip("_") or "sample"


def render(sample, face, rows, points, mask, label, aus):
    """PNG bytes: one row per net (face with AU regions, then its maps)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    columns = 1 + max(len(r["maps"]) for r in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(2.6 * columns, 2.8 * len(rows)),
                             squeeze=False)
    size = face.shape[0]
    for r, row in enumerate(rows):
        ax = axes[r][0]
        ax.imshow(face, cmap="gray", vmin=0, vmax=255)
        if mask is not None:
            ax.contour(mask.astype(float), levels=[0.5], colors="yellow", linewidths=0.8)
        if points is not None:
            ax.plot(points[:, 0], points[:, 1], ".", color="cyan", markersize=1.5)
        title = "%s\n%s" % (row["net"], row["pred"])
        if label:
            title = "%s\nclass %s%s" % (title, label,
                                        " (AU%s)" % "+".join(map(str, aus)) if aus else "")
        ax.set_title(title, fontsize=7)
        for c in range(columns - 1):
            ax = axes[r][c + 1]
            if c >= len(row["maps"]):
                ax.axis("off")
                continue
            key, small, big, score, area = row["maps"][c]
            ax.imshow(face, cmap="gray", vmin=0, vmax=255)
            im = ax.imshow(big, cmap="jet", alpha=0.5, extent=(-0.5, size - 0.5, size - 0.5, -0.5))
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=6)
            title = "%s (%dx%d)" % (key, small.shape[1], small.shape[0])
            if score is not None:
                title += "\nscore %.3f, area %.3f" % (score, area)
            ax.set_title(title, fontsize=7)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    return png(fig, sample, 8, 100)


def heldout_figure(panels, title):
    """PNG bytes of a Figure-4-style grid: one row per face (the face with its
    AU regions, then each map over it, its lift in the panel title). A panel
    is a dict: title, face, points, mask, maps [(title, upsampled map)]."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    columns = 1 + max(len(p["maps"]) for p in panels)
    fig, axes = plt.subplots(len(panels), columns, figsize=(1.9 * columns, 2.6 * len(panels)),
                             squeeze=False)
    for row, panel in zip(axes, panels):
        face = panel["face"]
        size = face.shape[0]
        row[0].imshow(face, cmap="gray", vmin=0, vmax=255)
        if panel.get("mask") is not None:
            row[0].contour(panel["mask"].astype(float), levels=[0.5], colors="yellow",
                           linewidths=0.8)
        row[0].set_title(panel["title"], fontsize=6)
        for ax, item in zip(row[1:], panel["maps"]):
            ax.imshow(face, cmap="gray", vmin=0, vmax=255)
            ax.imshow(item[1], cmap="jet", alpha=0.5, extent=(-0.5, size - 0.5, size - 0.5, -0.5))
            if panel.get("mask") is not None:
                ax.contour(panel["mask"].astype(float), levels=[0.5], colors="white",
                           linewidths=0.5)
            ax.set_title(item[0], fontsize=6)
        for ax in row[1 + len(panel["maps"]):]:
            ax.axis("off")
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    return png(fig, title, 7, 90)


def png(fig, title, fontsize, dpi):
    """The figure's PNG bytes (no software stamp: same input, same bytes),
    then the figure is closed."""
    import matplotlib.pyplot as plt
    fig.suptitle(title, fontsize=fontsize)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _fmt(value):
    return "" if value is None else ("nan" if value != value else "%.4f" % value)


def scores_tables(records):
    """(CSV text, Markdown text) of the score records."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        writer.writerow([r["sample_id"], r["class"], r["aus"], r["net"], r["map"],
                         r["resolution"], _fmt(r["score"]), _fmt(r["area"]), _fmt(r["lift"])])
    md = ["# Map mass on the action units of the sample's class", "",
          "score: share of the map's mass inside the AU regions; area: the regions' share "
          "of the face (the score of a uniform map); lift = score / area. AU regions: "
          "microattention.visualize.AU_LANDMARKS, margin %.2f inter-ocular distances." % AU_MARGIN,
          "", "## Per class", "",
          "| class | AUs | net | map | samples | mean score | mean area | mean lift |",
          "|---|---|---|---|---:|---:|---:|---:|"]
    groups = collections.OrderedDict()
    for r in records:
        if r["score"] is not None:
            groups.setdefault((r["class"], r["aus"], r["net"], r["map"]), []).append(r)
    for (cls, coded, net, key), rs in groups.items():
        md.append("| %s | %s | %s | %s | %d | %s | %s | %s |" % (
            cls, coded, net, key, len(rs),
            _fmt(float(np.mean([r["score"] for r in rs]))),
            _fmt(float(np.mean([r["area"] for r in rs]))),
            _fmt(float(np.mean([r["lift"] for r in rs])))))
    used = sorted({int(a) for r in records if r["aus"] for a in r["aus"].split("+")})
    if used:
        md += ["", "## AU regions", "",
               "Convex hull per face side of these iBUG points (0-based), dilated by %.2f "
               "inter-ocular distances." % AU_MARGIN, "",
               "| AU | landmarks |", "|---|---|"]
        md += ["| AU%d | %s |" % (au, " ".join(map(str, AU_LANDMARKS[au]))) for au in used]
    md += ["", "## Per sample", "",
           "| sample | class | net | map | score | area | lift |", "|---|---|---|---|---:|---:|---:|"]
    for r in records:
        md.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["sample_id"], r["class"] or "-", r["net"], r["map"],
            _fmt(r["score"]) or "-", _fmt(r["area"]) or "-", _fmt(r["lift"]) or "-"))
    return out.getvalue(), "\n".join(md) + "\n"


# ------------------------------------------------------------------ command

def add_arguments(parser):
    parser.add_argument("--net", required=True, choices=nets.NETS, help="first net")
    parser.add_argument("--weights", required=True, metavar="W", help="its caffemodel")
    parser.add_argument("--net2", choices=nets.NETS, help="second net, drawn below the first")
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
    # Read and check every input before the nets run, so bad input writes nothing.
    loaded = []
    for sid, image_path, mark, label in samples:
        face = read_face(image_path, "--images" if args.images else "--faces")
        points = read_pts(mark) if mark else None
        if label is not None and not _known_class(label):
            raise UserError("--labels: class %r of sample %s is not a known class" % (label, sid))
        if label in REGION_AUS and points is None:
            raise UserError("sample %s: scoring class %s needs 68 landmarks (--landmarks)"
                            % (sid, label))
        loaded.append((sid, face, points, label))
    models = [(args.net,) + load_net(args.net, args.weights, "--weights")]
    if args.net2:
        models.append((args.net2,) + load_net(args.net2, args.weights2, "--weights2"))
    out = files.output_dir(args.out)
    targets = [os.path.join(str(out), safe_name(s[0]) + ".png") for s in samples]
    if len(set(targets)) != len(targets):
        raise UserError("two sample ids give the same PNG name; visualise them separately")
    targets += [os.path.join(str(out), SCORES_CSV), os.path.join(str(out), SCORES_MD)]
    inputs = [args.weights, args.weights2] + [s[1] for s in samples] + [s[2] for s in samples]
    files.check_outputs(targets, inputs)

    outputs, records = collections.OrderedDict(), []
    for sid, face, points, label in loaded:
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
        outputs[os.path.join(str(out), safe_name(sid) + ".png")] = render(
            sid, face, rows, points, mask, label, aus)
    csv_text, md_text = scores_tables(records)
    outputs[os.path.join(str(out), SCORES_CSV)] = csv_text
    outputs[os.path.join(str(out), SCORES_MD)] = md_text
    files.write_together(outputs)
    scored = len({r["sample_id"] for r in records if r["score"] is not None})
    print("wrote %d PNG(s), %s and %s to %s (%d of %d sample(s) scored)"
          % (len(loaded), SCORES_CSV, SCORES_MD, out, scored, len(loaded)))
    return 0
