"""SGD solver files: the paper's settings, schedules in epochs, BVLC or NVCaffe.

The committed solvers in solvers/ are plain BVLC Caffe 1.0 files. The paper
states its learning-rate schedules in epochs ("divided by 10 every 10 epochs"),
while Caffe counts iterations, so `render` converts them from the size of each
fold's training set. Under NVIDIA's NVCaffe (the CUDA image) it also sets
`store_blobs_in_old_format: true`, without which NVCaffe writes snapshots that
BVLC Caffe cannot read; BVLC Caffe does not know that field, so it cannot be in
the committed files.
"""
import math
import os
import pathlib

from microattention import files
from microattention.errors import UserError

SOLVERS_DIR = files.project_root() / "solvers"
PROTOCOLS = ("pretrain", "hde", "cde", "loso")
NVCAFFE_FIELD = "store_blobs_in_old_format"


class SolverError(UserError, ValueError):
    pass


def _caffe_pb2():
    from caffe.proto import caffe_pb2
    return caffe_pb2


def caffe_flavour():
    """'nvcaffe' or 'bvlc': MA_CAFFE_FLAVOUR if set (the CUDA image sets it),
    else whichever caffe.proto the installed pycaffe was built from."""
    flavour = os.environ.get("MA_CAFFE_FLAVOUR")
    if flavour:
        if flavour not in ("bvlc", "nvcaffe"):
            raise SolverError("MA_CAFFE_FLAVOUR=%r: expected 'bvlc' or 'nvcaffe'" % flavour)
        return flavour
    fields = _caffe_pb2().SolverParameter.DESCRIPTOR.fields_by_name
    return "nvcaffe" if NVCAFFE_FIELD in fields else "bvlc"


def template_path(protocol):
    if protocol not in PROTOCOLS:
        raise SolverError("unknown protocol %r; expected one of %s" % (protocol, ", ".join(PROTOCOLS)))
    return SOLVERS_DIR / (protocol + ".prototxt")


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


def epochs_to_iterations(n_images, batch, epochs):
    """Iterations that show the net `epochs` passes over `n_images` at `batch`."""
    if n_images <= 0 or batch <= 0 or epochs <= 0:
        raise SolverError("epochs_to_iterations needs positive sizes, got images=%r batch=%r epochs=%r"
                          % (n_images, batch, epochs))
    return int(math.ceil(n_images * epochs / float(batch)))


def render(template, out_path, net=None, train_images=None, batch=None, step_epochs=10,
           total_epochs=30, test_images=None, test_batch=1, snapshot_prefix=None,
           flavour=None, **fields):
    """Write a solver for one run to `out_path` (atomically) and return the text.

    `template` is a protocol name (pretrain, hde, cde, loso) or a solver file.
    With `train_images` and `batch` the step size and the iteration budget are
    set from `step_epochs` and `total_epochs`; with `test_images`, test_iter
    covers the whole test set once. Other keyword arguments set solver fields
    by name (e.g. weight_decay=0.003)."""
    from google.protobuf import text_format
    src = template_path(template) if template in PROTOCOLS else pathlib.Path(template)
    param = load(src)
    if net is not None:
        param.net = str(net)
    if train_images is not None:
        if batch is None:
            raise SolverError("render: train_images needs the training batch size")
        per_epoch = epochs_to_iterations(train_images, batch, 1)
        param.stepsize = epochs_to_iterations(train_images, batch, step_epochs)
        param.max_iter = epochs_to_iterations(train_images, batch, total_epochs)
        param.snapshot = per_epoch  # resumable at every epoch boundary
        param.test_interval = per_epoch
    if test_images is not None:
        param.test_iter[:] = [epochs_to_iterations(test_images, test_batch, 1)]
    if snapshot_prefix is not None:
        param.snapshot_prefix = str(snapshot_prefix)
    for name, value in sorted(fields.items()):
        if name not in param.DESCRIPTOR.fields_by_name:
            raise SolverError("%s: Caffe's SolverParameter has no field %r" % (src, name))
        setattr(param, name, value)
    text = "# rendered from %s\n" % src + text_format.MessageToString(param)
    if (flavour or caffe_flavour()) == "nvcaffe" and NVCAFFE_FIELD not in text:
        text += "%s: true\n" % NVCAFFE_FIELD
    out_path = pathlib.Path(out_path)
    files.atomic_write(out_path, text)
    return text
