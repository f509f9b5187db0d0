"""The protocol table: the one place where the paper's training settings live.

Every solver (committed under solvers/ or rendered per fold), every rendered
net's batch size and every LMDB's augmentation comes from PROTOCOLS below; tests
fail when a committed file disagrees with it. Values the paper does not give
are project choices, listed in CHOICES with the reason, and written into each
run's report (docs/paper-setup.md quotes this table).

Paper sections: pre-training 4.1 (its data, held-out tenth and augmentation) and
4.2 (its solver, schedule and validation accuracy); HDE, CDE and LOSO 4.2.
"""
import collections

from microattention.errors import UserError

# One augmentation setting per LMDB builder. Magnitudes are maxima; each
# photometric/geometric augmentation is applied with probability `p`.
#   colour_shift: add a uniform integer in [-colour_shift, colour_shift] to
#                 every pixel (paper: "color shift with maximum value of 20")
#   rotation:     rotate by a uniform angle in [-rotation, rotation] degrees
#   smoothing:    box/mean filter with a window drawn from 2..smoothing
#   corner_crops: the four 224x224 corner crops of the 240x240 face, each
#                 resized back to 240x240 (CDE), added as extra records
Augmentation = collections.namedtuple(
    "Augmentation", "colour_shift rotation smoothing corner_crops p")

NO_AUGMENTATION = Augmentation(0, 0.0, 0, False, 0.0)

Protocol = collections.namedtuple("Protocol", [
    "name",          # pretrain, hde, cde, loso
    "net",           # the net it trains by default
    "batch",         # training batch (Data layer, TRAIN phase)
    "test_batch",    # test batch; 1 so that test_iter covers the set exactly once
    "solver",        # Caffe's solver type: the paper's SGD ("Adam" only in variants)
    "base_lr",
    "momentum",
    "weight_decay",
    "step_epochs",   # lr divided by `gamma` every this many epochs
    "total_epochs",  # the fixed training budget (same for every fold)
    "gamma",
    "augmentation",
    "resample",      # training classes resampled to the size of the largest
    "section",       # where the paper states it
])

PROTOCOLS = collections.OrderedDict((p.name, p) for p in [
    Protocol("pretrain", "resnet10", batch=50, test_batch=1, solver="SGD",
             base_lr=0.01, momentum=0.9,
             weight_decay=5e-4, step_epochs=20, total_epochs=60, gamma=0.1,
             augmentation=Augmentation(20, 10.0, 6, False, 0.5), resample=False,
             section="4.1 (data), 4.2 (solver)"),
    Protocol("hde", "micro_attention", batch=10, test_batch=1, solver="SGD",
             base_lr=1e-4, momentum=0.9,
             weight_decay=3e-2, step_epochs=10, total_epochs=30, gamma=0.1,
             augmentation=Augmentation(20, 8.0, 0, False, 0.5), resample=True,
             section="4.2 (HDE)"),
    Protocol("cde", "micro_attention", batch=8, test_batch=1, solver="SGD",
             base_lr=1e-3, momentum=0.9,
             weight_decay=5e-6, step_epochs=10, total_epochs=30, gamma=0.1,
             augmentation=Augmentation(0, 0.0, 0, True, 0.0), resample=True,
             section="4.2 (CDE)"),
    Protocol("loso", "micro_attention", batch=10, test_batch=1, solver="SGD",
             base_lr=1e-3, momentum=0.9,
             weight_decay=5e-4, step_epochs=10, total_epochs=30, gamma=0.1,
             augmentation=Augmentation(20, 8.0, 0, True, 0.5), resample=True,
             section="4.2 (LOSO)"),
])

NAMES = tuple(PROTOCOLS)
# Caffe solver types a variant may choose (with its momentum as beta1 and
# Caffe's default momentum2 0.999 for Adam)
SOLVERS = ("SGD", "Adam")

_SGD_FOR_FINE_TUNING = ("4.2 does not name the solver; SGD, as in pre-training (its momentum "
                        "and lr steps)")

# (protocol, field) -> why the value is ours and not the paper's.
CHOICES = collections.OrderedDict([
    (("pretrain", "weight_decay"),
     "not given in the paper; 5e-4, the usual ResNet fine-tuning decay"),
    (("pretrain", "total_epochs"),
     "not given; 60 epochs = three steps of 20 (lr 1e-2, 1e-3, 1e-4)"),
    (("pretrain", "resample"),
     "the paper resamples only the micro-expression training sets"),
    (("hde", "weight_decay"),
     "printed as '3e2' with the sign lost; read as 3e-2 (3e2 would not train)"),
    (("hde", "total_epochs"),
     "not given; 30 epochs = three steps of 10, the same fixed budget for every fold"),
    (("cde", "total_epochs"),
     "not given; 30 epochs = three steps of 10, the same fixed budget for every fold"),
    (("loso", "total_epochs"),
     "not given; 30 epochs = three steps of 10, the same fixed budget for every fold"),
    (("loso", "augmentation"),
     "'the data augmentation methods mentioned above': HDE's colour shift (20) and "
     "rotation (8 deg) plus CDE's corner crops; smoothing belongs to pre-training"),
    (("hde", "solver"),
     _SGD_FOR_FINE_TUNING),
    (("cde", "solver"),
     _SGD_FOR_FINE_TUNING),
    (("loso", "solver"),
     _SGD_FOR_FINE_TUNING),
    (("pretrain", "test_batch"),
     "validation batch 1 so that every held-out image is counted exactly once"),
])


def get(name):
    """The protocol of that name, or `name` itself when it is a Protocol
    already (a variant made by `variant`)."""
    if isinstance(name, Protocol):
        return name
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise UserError("unknown protocol %r; expected one of %s" % (name, ", ".join(NAMES)))


def variant(protocol, **changes):
    """The protocol `name` with some settings changed, for runs that are
    knowingly not the paper's (the demo's short schedules). Every run records
    its changes (`changes`), and reports flag each one beside the paper."""
    base = get(protocol)
    unknown = sorted(set(changes) - (set(Protocol._fields) - {"name", "section"}))
    if unknown:
        raise UserError("protocol %s has no setting %s" % (base.name, ", ".join(unknown)))
    if changes.get("solver", base.solver) not in SOLVERS:
        raise UserError("protocol %s: solver %r; expected one of %s"
                        % (base.name, changes["solver"], ", ".join(SOLVERS)))
    return base._replace(**changes)


def changes(protocol):
    """{field: value} where the protocol differs from the table (empty for
    the table's own protocols); augmentations as dicts, for JSON."""
    p = get(protocol)
    table = PROTOCOLS[p.name]
    out = collections.OrderedDict()
    for field in Protocol._fields:
        value = getattr(p, field)
        if value != getattr(table, field):
            out[field] = value._asdict() if hasattr(value, "_asdict") else value
    return out
