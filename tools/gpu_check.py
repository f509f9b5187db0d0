#!/usr/bin/env python3
"""GPU against CPU mode, for tools/gpu-check.sh (run it through that script:
it first checks that GPU 0 exists, since pycaffe aborts the process when
asked for a missing GPU).

For each of the three nets: the timing net (deploy + SoftmaxWithLoss, TRAIN
phase, as `caffe time` runs it) is built in CPU mode, its parameters get
random well-scaled values (prototxt.fill_random, fixed seed) and are saved; the
input and labels are random (fixed seed). One forward + backward in CPU mode,
then the same net is built again on the GPU from the saved weights and runs
the same forward + backward. Every blob's values (activations, loss) and
every learnable parameter's gradient are compared:

    relative error = ||gpu - cpu|| / ||cpu||   (L2 norms over the blob)

and each must be at most BOUND. float32 GPU kernels and cuBLAS sum in another
order than OpenBLAS; differences of 1e-6..1e-4 are normal, 1e-3 is the bound.
Exit status 0 if every net is within it, 1 otherwise.

  python3 tools/gpu_check.py [--gpu 0] [--batch 4] [--nets resnet10 ...]
  python3 tools/gpu_check.py --cpu-only   (both sides CPU: checks the checker)
"""
import argparse
import os
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))

from microattention.nets import prototxt  # noqa: E402

BOUND = 1e-3
SEED = 0
NUM_OUTPUT = 5


def relative_error(got, ref):
    import numpy as np
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    norm = np.linalg.norm(ref)
    diff = np.linalg.norm(got - ref)
    if norm == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return float(diff / norm)


def inputs(param, batch):
    """Random input and labels for a timing net (fixed seed)."""
    import numpy as np
    rng = np.random.RandomState(SEED + 1)
    shape = [int(d) for d in prototxt.find_layer(param, "data").input_param.shape[0].dim]
    data = rng.normal(0.0, 1.0, shape).astype(np.float32)
    labels = rng.randint(0, NUM_OUTPUT, batch).astype(np.float32)
    return data, labels


def forward_backward(caffe_net, data, labels):
    """{name: array} of every blob's values after one forward + backward, and
    of every learnable parameter's gradient."""
    caffe_net.blobs["data"].data[...] = data
    caffe_net.blobs["label"].data[...] = labels
    caffe_net.forward()
    caffe_net.backward()
    out = {"blob " + name: blob.data.copy() for name, blob in caffe_net.blobs.items()}
    for name, blobs in caffe_net.params.items():
        for i, blob in enumerate(blobs):
            out["gradient %s[%d]" % (name, i)] = blob.diff.copy()
    return out


def learnable(param):
    """Names of gradient entries whose parameter Caffe learns (lr_mult > 0)."""
    keep = set()
    for layer, mults in prototxt.lr_mults(param).items():
        for i, m in enumerate(mults):
            if m > 0:
                keep.add("gradient %s[%d]" % (layer, i))
    return keep


def compare(ref, got, keep):
    """[(relative error, name)], worst first."""
    errors = []
    for name, value in ref.items():
        if name.startswith("gradient ") and name not in keep:
            continue
        errors.append((relative_error(got[name], value), name))
    return sorted(errors, reverse=True)


def check_net(caffe, name, batch, gpu, size=224):
    """Relative errors of `name` on the GPU (or CPU again if gpu is None)
    against CPU mode, worst first."""
    import numpy as np
    param = prototxt.render_timing(name, NUM_OUTPUT, batch, size=size)
    data, labels = inputs(param, batch)
    with tempfile.TemporaryDirectory(prefix="ma-gpu-check-") as tmp:
        proto = os.path.join(tmp, "net.prototxt")
        weights = os.path.join(tmp, "net.caffemodel")
        prototxt.write_prototxt(param, proto)
        caffe.set_mode_cpu()
        cpu_net = caffe.Net(proto, caffe.TRAIN)
        prototxt.fill_random(cpu_net, np.random.RandomState(SEED))
        cpu_net.save(weights)
        ref = forward_backward(cpu_net, data, labels)
        del cpu_net
        if gpu is not None:
            caffe.set_device(gpu)
            caffe.set_mode_gpu()
        try:
            other = caffe.Net(proto, caffe.TRAIN, weights=weights)
            got = forward_backward(other, data, labels)
            del other
        finally:
            caffe.set_mode_cpu()
    return compare(ref, got, learnable(param))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpu", type=int, default=0, help="GPU id (default 0)")
    parser.add_argument("--cpu-only", action="store_true",
                        help="compare CPU mode with CPU mode (no GPU needed; errors must be 0)")
    parser.add_argument("--batch", type=int, default=4, help="batch size (default 4)")
    parser.add_argument("--nets", nargs="+", choices=prototxt.NETS,
                        default=list(prototxt.NETS))
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error("--batch %d: must be at least 1" % args.batch)
    caffe = prototxt.import_caffe()
    gpu = None if args.cpu_only else args.gpu
    where = "CPU (again)" if gpu is None else "GPU %d" % gpu
    failed = []
    for name in args.nets:
        errors = check_net(caffe, name, args.batch, gpu)
        worst, what = errors[0]
        ok = worst <= BOUND
        print("%-18s %s vs CPU: %d blobs and gradients, largest relative error %.2e (%s) %s"
              % (name, where, len(errors), worst, what, "ok" if ok else "ABOVE %.0e" % BOUND))
        if not ok:
            failed.append(name)
            for err, item in errors[:5]:
                print("    %.2e  %s" % (err, item))
    if failed:
        print("gpu_check: %s differ from CPU mode by more than %.0e" % (", ".join(failed), BOUND))
        return 1
    print("gpu_check: every net within relative error %.0e of CPU mode" % BOUND)
    return 0


if __name__ == "__main__":
    sys.exit(main())
