"""The committed solver files solvers/<name>.prototxt (one per protocol and
`finetune`), written by tools/make_solvers.py from the protocol table and
the REFERENCE set sizes; tests fail when files and table disagree.
"""
import collections
import textwrap

from microattention import paper, protocols
from microattention.nets import prototxt
from microattention.nets.schedule import SolverError, schedule
from microattention.nets.solver import solver_text

# Committed solver files -> the protocol whose settings they hold. `finetune`
# is the micro-attention fine-tuning solver that plain `caffe train` runs.
COMMITTED = collections.OrderedDict(
    [(name, name) for name in protocols.NAMES] + [("finetune", "loso")])
PROTOCOLS = tuple(COMMITTED)
# The committed solvers snapshot straight into workspace/ (relative to the
# project root, like the LMDB sources): it is the one folder that exists on a
# fresh checkout and in the image (where it is /workspace), and `caffe train`
# stops at start when the snapshot prefix's folder is missing.
SNAPSHOT_DIR = "workspace"

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



def reference_train_images(protocol):
    """Training-set size the committed solver of `protocol` assumes: the
    reference classes, resampled to the largest if the protocol resamples,
    times 5 records per image with the four corner crops."""
    p = protocols.get(protocol)
    counts = REFERENCE[protocol].class_counts
    n = len(counts) * max(counts) if p.resample else sum(counts)
    return n * (5 if p.augmentation.corner_crops else 1)


def _wrap(text, indent):
    return textwrap.fill(text, width=86, subsequent_indent=indent, break_on_hyphens=False)


def _comment(text):
    return "".join(("# " + line).rstrip() + "\n" for line in text.split("\n"))


def committed_snapshot_prefix(name):
    """workspace/<solver>_<net>: snapshots <prefix>_iter_<N>.caffemodel."""
    return "%s/%s_%s" % (SNAPSHOT_DIR, name, protocols.get(COMMITTED[name]).net)


def committed_text(name):
    """The text of solvers/<name>.prototxt (tools/make_solvers.py writes it)."""
    if name not in COMMITTED:
        raise SolverError("unknown solver %r; expected one of %s" % (name, ", ".join(COMMITTED)))
    protocol = COMMITTED[name]
    n, t = reference_train_images(protocol), REFERENCE[protocol].test_images
    schedule(protocol, n, t)   # SolverError before anything else
    return solver_text(protocol, prototxt.train_val_relpath(protocol), n, t,
                       committed_snapshot_prefix(name), header=_header(name), flavour="bvlc",
                       comments=_comments(protocol, n, t))


def _size_line(protocol, n):
    """What the reference training set of n images is made of."""
    p = protocols.get(protocol)
    ref = REFERENCE[protocol]
    counts = ref.class_counts
    if p.resample:
        size = "%d images = %s, resampled to %d x %d = %d" % (
            n, ref.train_what, len(counts), max(counts), len(counts) * max(counts))
    else:
        size = "%d images = %s" % (n, ref.train_what)
    if p.augmentation.corner_crops:
        size += ", times 5 (the image and its four corner crops)"
    return size


def _header(name):
    """The comment block at the top of solvers/<name>.prototxt."""
    protocol = COMMITTED[name]
    p = protocols.get(protocol)
    ref = REFERENCE[protocol]
    n, t = reference_train_images(protocol), ref.test_images
    net_path = prototxt.train_val_relpath(protocol)
    prefix = committed_snapshot_prefix(name)
    size = _size_line(protocol, n)
    choices = [_wrap("  %s: %s" % (field, why), "    ")
               for (proto, field), why in protocols.CHOICES.items() if proto == protocol]
    return _comment(
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
        "their own solver and net from the fold's sizes "
        "(microattention.nets.solver.render_fold).\n"
        "%s\n%s\n"
        "For another set, change stepsize, max_iter, test_interval, snapshot and test_iter\n"
        "by the formulas below.\n"
        "Under NVCaffe the rendered solvers add store_blobs_in_old_format: true so that\n"
        "snapshots load in BVLC Caffe (the field does not exist in BVLC Caffe)."
        % (TITLES[name], protocol, name, prefix, net_path, p.batch, p.test_batch,
           prototxt.DEFAULT_TRAIN_SOURCE, prototxt.DEFAULT_TEST_SOURCE,
           p.section, p.solver, p.base_lr, p.momentum, p.weight_decay, p.gamma, p.step_epochs,
           p.total_epochs, p.batch,
           ("Project choices:\n%s\n" % "\n".join(choices)) if choices else "",
           _wrap("  training: " + size, "            "),
           _wrap("  test:     %d images = %s" % (t, ref.test_what), "            ")))


def _comments(protocol, n, t):
    """Comment lines before the stepsize and test_iter fields."""
    p = protocols.get(protocol)
    sched = schedule(protocol, n, t)
    return {
        "stepsize": _comment(
            "One epoch = ceil(%d / %d) = %d iterations; stepsize = ceil(%d x %r / %d),\n"
            "max_iter = ceil(%d x %r / %d)."
            % (n, p.batch, sched["test_interval"], n, p.step_epochs, p.batch,
               n, p.total_epochs, p.batch)),
        "test_iter": _comment(
            "test_iter x test batch = %d x %d = the %d test images, each counted once;\n"
            "test and snapshot every epoch." % (sched["test_iter"], p.test_batch, t)),
    }
