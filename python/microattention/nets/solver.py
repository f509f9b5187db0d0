"""SGD solver files from the protocol table, BVLC or NVCaffe; snapshot pruning.

Every solver comes from microattention.protocols.PROTOCOLS: the committed ones
in solvers/ (written by tools/make_solvers.py, tested against the table) and
the ones rendered per fold. The paper states its schedules in epochs ("divided
by 10 every 10 epochs") while Caffe counts iterations, so a solver depends on
the training-set size N at the protocol's batch B:

    stepsize      = ceil(N * step_epochs / B)
    max_iter      = ceil(N * total_epochs / B)
    test_interval = snapshot = ceil(N / B)          (every epoch)
    test_iter     = test set size / test batch      (exactly once over the set)

The batch sizes live in the net, not the solver, so `render_fold` writes the
fold's train_val (protocol batch sizes, class count, LMDB sources) together
with its solver. Under NVIDIA's NVCaffe (not the project's CUDA image, which is
BVLC Caffe built with CUDA; a user's own NVCaffe) rendered solvers also
get `store_blobs_in_old_format: true`, without which NVCaffe writes snapshots
that BVLC Caffe cannot read; BVLC Caffe does not know that field, so it is
never in the committed files.
"""
import collections
import fractions
import math
import os
import pathlib
import re
import textwrap

from microattention import files, paper, protocols
from microattention.nets import prototxt as nets
from microattention.errors import UserError

SOLVERS_DIR = files.project_root() / "solvers"
# Committed solver files -> the protocol whose settings they hold. `finetune`
# is the micro-attention fine-tuning solver that plain `caffe train` runs.
COMMITTED = collections.OrderedDict(
    [(name, name) for name in protocols.NAMES] + [("finetune", "loso")])
PROTOCOLS = tuple(COMMITTED)
NVCAFFE_FIELD = "store_blobs_in_old_format"
# The committed solvers snapshot straight into workspace/ (relative to the
# project root, like the LMDB sources): it is the one folder that exists on a
# fresh checkout and in the image (where it is /workspace), and `caffe train`
# stops at start when the snapshot prefix's folder is missing.
SNAPSHOT_DIR = "workspace"
DISPLAY = 10
RANDOM_SEED = 1
ENUM_FIELDS = ("solver_mode", "snapshot_format")

# The data sets behind the iteration counts of the committed solvers (class
# counts of Table 1, classes I-V of the objective classes; section 4.1). A
# LOSO/CDE fold trains on the database less one subject, so its real set is a
# little smaller: per-fold runs render their own solver from the fold's sizes.
CASME2_I_V = tuple(paper.TABLE1["casme2"][c] for c in paper.CLASSES)
SAMM_I_V = tuple(paper.TABLE1["samm"][c] for c in paper.CLASSES)
MACRO_IMAGES = sum(paper.PRETRAIN_IMAGES.values())    # CK+, Oulu-CASIA, JAFFE and MUG
Reference = collections.namedtuple("Reference", "class_counts test_images train_what test_what")
REFERENCE = collections.OrderedDict([
    ("pretrain", Reference(
        (MACRO_IMAGES - MACRO_IMAGES // 10,), MACRO_IMAGES // 10,
        "the %d macro-expression images of CK+, Oulu-CASIA, JAFFE and MUG less the 1/10 "
        "held out" % MACRO_IMAGES,
        "the held-out tenth")),
    ("hde", Reference(
        CASME2_I_V, sum(SAMM_I_V),
        "CASME II, classes I-V %s" % "/".join(map(str, CASME2_I_V)),
        "SAMM, classes I-V %s" % "/".join(map(str, SAMM_I_V)))),
    ("cde", Reference(
        tuple(a + b for a, b in zip(CASME2_I_V, SAMM_I_V)), 6,
        "CASME II + SAMM pooled, classes I-V %s (the whole pool; a fold lacks its "
        "test subject)" % "/".join(str(a + b) for a, b in zip(CASME2_I_V, SAMM_I_V)),
        "one subject (%d clips over 26 + 20 subjects: about 6)"
        % (sum(CASME2_I_V) + sum(SAMM_I_V)))),
    ("loso", Reference(
        CASME2_I_V, 7,
        "CASME II, classes I-V %s (the whole database; a fold lacks its test subject)"
        % "/".join(map(str, CASME2_I_V)),
        "one subject (%d clips over 26 subjects: about 7)" % sum(CASME2_I_V))),
])

TITLES = {
    "pretrain": "Pre-training of ResNet-10 WITHOUT attention on the macro-expression sets "
                "(paper 3.3, 4.1).",
    "hde": "Fine-tuning WITH micro-attention, holdout-database evaluation (HDE, paper 4.2).",
    "cde": "Fine-tuning WITH micro-attention, composite-database evaluation (CDE, paper 4.2).",
    "loso": "Fine-tuning WITH micro-attention, leave-one-subject-out on one database "
            "(LOSO, paper 4.2).",
    "finetune": "Fine-tuning of the micro-attention net with the LOSO settings (paper 4.2): "
                "the solver\nthat plain `caffe train -solver solvers/finetune.prototxt "
                "-weights W` runs as written.",
}


class SolverError(UserError, ValueError):
    pass


def _caffe_pb2():
    from caffe.proto import caffe_pb2
    return caffe_pb2


def caffe_flavour():
    """'nvcaffe' or 'bvlc': MA_CAFFE_FLAVOUR if set (no image sets it),
    else whichever caffe.proto the installed pycaffe was built from."""
    flavour = os.environ.get("MA_CAFFE_FLAVOUR")
    if flavour:
        if flavour not in ("bvlc", "nvcaffe"):
            raise SolverError("MA_CAFFE_FLAVOUR=%r: expected 'bvlc' or 'nvcaffe'" % flavour)
        return flavour
    fields = _caffe_pb2().SolverParameter.DESCRIPTOR.fields_by_name
    return "nvcaffe" if NVCAFFE_FIELD in fields else "bvlc"


def template_path(name):
    """solvers/<name>.prototxt of a committed solver (a protocol or finetune)."""
    if name not in COMMITTED:
        raise SolverError("unknown solver %r; expected one of %s" % (name, ", ".join(COMMITTED)))
    return SOLVERS_DIR / (name + ".prototxt")


def load(path):
    """Parse a solver prototxt; a syntax error names the file and line."""
    from google.protobuf import text_format
    path = pathlib.Path(path)
    param = _caffe_pb2().SolverParameter()
    try:
        text_format.Merge(path.read_text(), param)
    except text_format.ParseError as exc:
        raise SolverError("%s: %s" % (path, exc))
    return param


# ------------------------------------------------------------------ schedule

def _positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SolverError("%s must be a positive whole number, got %r" % (what, value))
    return value


def epochs_to_iterations(n_images, batch, epochs):
    """Iterations that show the net `epochs` passes over `n_images` at `batch`
    (rounded up, computed exactly)."""
    if n_images <= 0 or batch <= 0 or epochs <= 0:
        raise SolverError("epochs_to_iterations needs positive sizes, got images=%r batch=%r "
                          "epochs=%r" % (n_images, batch, epochs))
    return int(math.ceil(fractions.Fraction(n_images) * fractions.Fraction(epochs)
                         / fractions.Fraction(batch)))


def schedule(protocol, train_images, test_images):
    """The iteration fields of `protocol`'s solver for a training set of
    `train_images` and a test set of `test_images` (at the protocol's batch
    sizes). The test batch must divide the test set: Caffe has no partial test
    batch and would wrap around, counting some images twice."""
    p = protocols.get(protocol)
    n = _positive_int(train_images, "training-set size")
    t = _positive_int(test_images, "test-set size")
    if t % p.test_batch:
        raise SolverError(
            "protocol %s: the test set of %d images is not a multiple of its test batch %d; "
            "test_iter x batch could not cover it exactly once" % (p.name, t, p.test_batch))
    epoch = epochs_to_iterations(n, p.batch, 1)
    return collections.OrderedDict([
        ("stepsize", epochs_to_iterations(n, p.batch, p.step_epochs)),
        ("max_iter", epochs_to_iterations(n, p.batch, p.total_epochs)),
        ("test_iter", t // p.test_batch),
        ("test_interval", epoch),
        ("snapshot", epoch),   # resumable at every epoch
    ])


def reference_train_images(protocol):
    """Training-set size the committed solver of `protocol` assumes: the
    reference classes, resampled to the largest if the protocol resamples,
    times 5 records per image with the four corner crops."""
    p = protocols.get(protocol)
    counts = REFERENCE[protocol].class_counts
    n = len(counts) * max(counts) if p.resample else sum(counts)
    return n * (5 if p.augmentation.corner_crops else 1)


# ------------------------------------------------------------------ solver text

def _format(name, value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if name in ENUM_FIELDS:
        return str(value)
    return '"%s"' % str(value).replace("\\", "\\\\").replace('"', '\\"')


def _check_field(name):
    try:
        known = _caffe_pb2().SolverParameter.DESCRIPTOR.fields_by_name
    except ImportError:   # no pycaffe (a checkout without Caffe): cannot check
        return
    if name not in known:
        raise SolverError("Caffe's SolverParameter has no field %r" % name)


def solver_fields(protocol, net, train_images, test_images, snapshot_prefix, **fields):
    """OrderedDict of the solver fields; keyword arguments change or add
    SolverParameter fields by name (e.g. weight_decay=3e-3)."""
    p = protocols.get(protocol)
    out = collections.OrderedDict([
        ("net", str(net)),
        ("type", p.solver),
        ("base_lr", p.base_lr),
        ("momentum", p.momentum),
        ("weight_decay", p.weight_decay),
        ("lr_policy", "step"),
        ("gamma", p.gamma),
    ])
    sched = schedule(protocol, train_images, test_images)
    out["stepsize"] = sched["stepsize"]
    out["max_iter"] = sched["max_iter"]
    out["test_iter"] = sched["test_iter"]
    out["test_interval"] = sched["test_interval"]
    out["test_initialization"] = False
    out["display"] = DISPLAY
    out["snapshot"] = sched["snapshot"]
    out["snapshot_prefix"] = str(snapshot_prefix)
    out["solver_mode"] = "CPU"
    out["random_seed"] = RANDOM_SEED
    for name, value in sorted(fields.items()):
        if name not in out:
            _check_field(name)
        out[name] = value
    return out


def solver_text(protocol, net, train_images, test_images, snapshot_prefix, header="",
                flavour="bvlc", comments=None, **fields):
    """Solver prototxt text. `comments` maps a field name to comment lines
    written before it."""
    comments = comments or {}
    text = header
    for name, value in solver_fields(protocol, net, train_images, test_images,
                                     snapshot_prefix, **fields).items():
        text += comments.get(name, "")
        text += "%s: %s\n" % (name, _format(name, value))
    if flavour == "nvcaffe":
        text += "%s: true\n" % NVCAFFE_FIELD
    return text


def _wrap(text, indent):
    return textwrap.fill(text, width=86, subsequent_indent=indent, break_on_hyphens=False)


def _comment(text):
    return "".join(("# " + line).rstrip() + "\n" for line in text.split("\n"))


def _flavour(flavour):
    flavour = flavour or caffe_flavour()
    if flavour not in ("bvlc", "nvcaffe"):
        raise SolverError("flavour %r: expected 'bvlc' or 'nvcaffe'" % flavour)
    return flavour


def render(protocol, out_path, net, train_images, test_images, snapshot_prefix,
           flavour=None, **fields):
    """Write the solver alone for `protocol` (atomically) and return its text.
    `net` is the train_val it names; it must hold the protocol's batch sizes
    (render_fold writes both)."""
    schedule(protocol, train_images, test_images)   # UserError before anything else
    text = solver_text(protocol, net, train_images, test_images, snapshot_prefix,
                       header="# rendered by microattention.solver: protocol %s, %d training "
                              "and %d test images\n" % (protocol, train_images, test_images),
                       flavour=_flavour(flavour), **fields)
    files.atomic_write(out_path, text)
    return text


def render_fold(protocol, solver_path, net_path, train_images, test_images, train_source,
                test_source, snapshot_prefix, num_output=5, net=None, flavour=None, **fields):
    """Write one run's train_val and solver together (both or neither).

    The train_val is `net` (default: the protocol's) with `num_output`
    classes, the LMDB sources and the protocol's batch / test batch; the solver
    names `net_path` as given and takes its schedule from the protocol's epochs
    and the set sizes. The folder of `snapshot_prefix` is created, since
    `caffe train` stops at start without it. Returns (solver_path, net_path)."""
    p = protocols.get(protocol)
    schedule(protocol, train_images, test_images)   # UserError before anything else
    net = net or p.net
    if net not in nets.NETS:
        raise SolverError("unknown net %r; expected one of %s" % (net, ", ".join(nets.NETS)))
    _positive_int(num_output, "class count")
    flavour = _flavour(flavour)
    changed = protocols.changes(p)
    what = "protocol %s%s, net %s, %d classes, %d training and %d test images" % (
        p.name, " (changed: %s)" % ", ".join(changed) if changed else "", net, num_output,
        train_images, test_images)
    text = solver_text(protocol, net_path, train_images, test_images, snapshot_prefix,
                       header="# rendered by microattention.solver.render_fold: %s\n" % what,
                       flavour=flavour, **fields)
    tv = nets.render_train_val(net, num_output=num_output, train_source=train_source,
                               test_source=test_source, train_batch=p.batch,
                               test_batch=p.test_batch)
    files.check_outputs([solver_path, net_path], [train_source, test_source],
                        {solver_path: "solver", net_path: "net"})
    files.output_dir(pathlib.Path(str(snapshot_prefix)).parent)
    files.write_together({net_path: "# rendered by microattention.solver.render_fold: %s\n%s"
                                     % (what, nets.to_text(tv)),
                          solver_path: text})
    return pathlib.Path(solver_path), pathlib.Path(net_path)


# ------------------------------------------------------------------ committed files

def committed_snapshot_prefix(name):
    """workspace/<solver>_<net>: snapshots <prefix>_iter_<N>.caffemodel."""
    return "%s/%s_%s" % (SNAPSHOT_DIR, name, protocols.get(COMMITTED[name]).net)


def committed_text(name):
    """The text of solvers/<name>.prototxt (tools/make_solvers.py writes it)."""
    if name not in COMMITTED:
        raise SolverError("unknown solver %r; expected one of %s" % (name, ", ".join(COMMITTED)))
    protocol = COMMITTED[name]
    p = protocols.get(protocol)
    ref = REFERENCE[protocol]
    n, t = reference_train_images(protocol), ref.test_images
    sched = schedule(protocol, n, t)
    net_path = nets.train_val_relpath(protocol)
    prefix = committed_snapshot_prefix(name)
    counts = ref.class_counts
    if p.resample:
        size = "%d images = %s, resampled to %d x %d = %d" % (
            n, ref.train_what, len(counts), max(counts), len(counts) * max(counts))
    else:
        size = "%d images = %s" % (n, ref.train_what)
    if p.augmentation.corner_crops:
        size += ", times 5 (the image and its four corner crops)"
    choices = [_wrap("  %s: %s" % (field, why), "    ")
               for (proto, field), why in protocols.CHOICES.items() if proto == protocol]
    header = _comment(
        "%s\n"
        "Plain BVLC Caffe 1.0 solver, generated by tools/make_solvers.py from\n"
        "microattention.protocols.PROTOCOLS[%r] (tests fail when the two disagree).\n"
        "\n"
        "Run from the project root (all paths are relative to it; in the image that is\n"
        "/opt/micro-attention, whose workspace/ is /workspace), as written:\n"
        "  caffe train -solver solvers/%s.prototxt -weights W\n"
        "Snapshots: %s_iter_<N>.caffemodel and .solverstate, in\n"
        "workspace/ because that folder always exists (caffe stops at start without it).\n"
        "Net: %s (batch %d, test batch %d),\n"
        "LMDBs %s and %s.\n"
        "\n"
        "Paper %s: %s, base lr %r, momentum %r, weight decay %r,\n"
        "lr x %r every %r epochs, %r epochs in all, batch %d.\n"
        "%s"
        "\n"
        "The iteration counts assume these REFERENCE set sizes; per-fold runs render\n"
        "their own solver and net from the fold's sizes (microattention.solver.render_fold).\n"
        "%s\n%s\n"
        "For another set, change stepsize, max_iter, test_interval, snapshot and test_iter\n"
        "by the formulas below.\n"
        "Under NVCaffe the rendered solvers add store_blobs_in_old_format: true so that\n"
        "snapshots load in BVLC Caffe (the field does not exist in BVLC Caffe)."
        % (TITLES[name], protocol, name, prefix, net_path, p.batch, p.test_batch,
           nets.DEFAULT_TRAIN_SOURCE, nets.DEFAULT_TEST_SOURCE,
           p.section, p.solver, p.base_lr, p.momentum, p.weight_decay, p.gamma, p.step_epochs,
           p.total_epochs, p.batch,
           ("Project choices:\n%s\n" % "\n".join(choices)) if choices else "",
           _wrap("  training: " + size, "            "),
           _wrap("  test:     %d images = %s" % (t, ref.test_what), "            ")))
    comments = {
        "stepsize": _comment(
            "One epoch = ceil(%d / %d) = %d iterations; stepsize = ceil(%d x %r / %d),\n"
            "max_iter = ceil(%d x %r / %d)."
            % (n, p.batch, sched["test_interval"], n, p.step_epochs, p.batch,
               n, p.total_epochs, p.batch)),
        "test_iter": _comment(
            "test_iter x test batch = %d x %d = the %d test images, each counted once;\n"
            "test and snapshot every epoch." % (sched["test_iter"], p.test_batch, t)),
    }
    return solver_text(protocol, net_path, n, t, prefix, header=header, flavour="bvlc",
                       comments=comments)


# ------------------------------------------------------------------ snapshots

def snapshots(prefix):
    """{iteration: {'caffemodel': path, 'solverstate': path}} of the snapshots
    `caffe train` wrote as <prefix>_iter_<N>.caffemodel / .solverstate."""
    folder, base = os.path.split(str(prefix))
    pattern = re.compile(re.escape(base) + r"_iter_(\d+)\.(caffemodel|solverstate)$")
    found = collections.defaultdict(dict)
    try:
        names = os.listdir(folder or ".")
    except FileNotFoundError:
        return {}
    for fname in names:
        m = pattern.match(fname)
        if m:
            found[int(m.group(1))][m.group(2)] = os.path.join(folder, fname)
    return dict(found)


def latest_snapshot(prefix):
    """The .solverstate of the newest complete snapshot pair, or None."""
    found = snapshots(prefix)
    complete = [i for i, pair in found.items() if len(pair) == 2]
    return found[max(complete)]["solverstate"] if complete else None


def prune_snapshots(prefix, keep=2):
    """Delete all snapshots of `prefix` older than its `keep` newest complete
    .caffemodel/.solverstate pairs (the ones resuming needs; each pair of the
    micro-attention net is about 48 MB). A newer incomplete pair (being
    written) is left alone. Returns the deleted paths."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise SolverError("prune_snapshots: keep must be at least 1, got %r" % (keep,))
    found = snapshots(prefix)
    complete = sorted(i for i, pair in found.items() if len(pair) == 2)
    if not complete:
        return []
    oldest_kept = complete[-keep:][0]
    removed = []
    for i in sorted(found):
        if i < oldest_kept:
            for path in sorted(found[i].values()):
                os.unlink(path)
                removed.append(path)
    return removed
