"""SGD solver files from the protocol table, BVLC or NVCaffe; snapshot pruning.

Every solver comes from microattention.protocols.PROTOCOLS: the committed ones
in solvers/ (committed_solvers.py, written by tools/make_solvers.py, tested
against the table) and the ones rendered per fold. Their iteration counts come
from the protocol's epochs and the set sizes (schedule.py).

The batch sizes live in the net, not the solver, so `render_fold` writes the
fold's train_val (protocol batch sizes, class count, LMDB sources) together
with its solver. Under NVIDIA's NVCaffe (not the project's CUDA image, which is
BVLC Caffe built with CUDA; a user's own NVCaffe) rendered solvers also
get `store_blobs_in_old_format: true`, without which NVCaffe writes snapshots
that BVLC Caffe cannot read; BVLC Caffe does not know that field, so it is
never in the committed files.
"""
import collections
import os
import pathlib
import re

from microattention import files, protocols
from microattention.nets import prototxt
from microattention.nets.schedule import SolverError, positive_int, schedule

NVCAFFE_FIELD = "store_blobs_in_old_format"
DISPLAY = 10
RANDOM_SEED = 1
ENUM_FIELDS = ("solver_mode", "snapshot_format")


def _caffe_pb2():
    from caffe.proto import caffe_pb2  # lazy: pycaffe is optional (a checkout without Caffe)
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


def load(path):
    """Parse a solver prototxt; a syntax error names the file and line."""
    from google.protobuf import text_format  # lazy: protobuf comes with pycaffe
    path = pathlib.Path(path)
    param = _caffe_pb2().SolverParameter()
    try:
        text_format.Merge(path.read_text(), param)
    except text_format.ParseError as exc:
        raise SolverError("%s: %s" % (path, exc))
    return param


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
    if net not in prototxt.NETS:
        raise SolverError("unknown net %r; expected one of %s"
                          % (net, ", ".join(prototxt.NETS)))
    positive_int(num_output, "class count")
    flavour = _flavour(flavour)
    changed = protocols.changes(p)
    what = "protocol %s%s, net %s, %d classes, %d training and %d test images" % (
        p.name, " (changed: %s)" % ", ".join(changed) if changed else "", net, num_output,
        train_images, test_images)
    text = solver_text(protocol, net_path, train_images, test_images, snapshot_prefix,
                       header="# rendered by microattention.solver.render_fold: %s\n" % what,
                       flavour=flavour, **fields)
    tv = prototxt.render_train_val(net, num_output=num_output, train_source=train_source,
                                   test_source=test_source, train_batch=p.batch,
                                   test_batch=p.test_batch)
    files.check_outputs([solver_path, net_path], [train_source, test_source],
                        {solver_path: "solver", net_path: "net"})
    files.output_dir(pathlib.Path(str(snapshot_prefix)).parent)
    files.write_together({net_path: "# rendered by microattention.solver.render_fold: %s\n%s"
                                     % (what, prototxt.to_text(tv)),
                          solver_path: text})
    return pathlib.Path(solver_path), pathlib.Path(net_path)


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
