"""Where a fold was trained and where its initial weights came from, as
train-fold records it in provenance.json and the report prints it.

environment(gpu): project commit (or version), Caffe version, the OpenBLAS
kernel, the image, the host and the device. The image cannot see its own id:
the image's build sets MA_GIT_COMMIT (and may set MA_IMAGE_ID /
MA_IMAGE_DIGEST), and a container run may pass MA_IMAGE, MA_IMAGE_ID and
MA_IMAGE_DIGEST; what is not set is recorded as not known.

weights_origin(path): follows the weights' sidecars (OUT.json of the weights
command) and the provenance.json of the train-fold run that made a
final.caffemodel, back to the cvjena ImageNet ResNet-10 (its sha256 in
microattention.nets.weights_command) or to where the trail ends.
"""
import collections
import os
import pathlib
import platform
import socket
import subprocess

from microattention import __version__, blas, files
from microattention.nets import fetch
from microattention.nets.sidecar import provenance_path
from microattention.train import caffe, layout

IMAGE_ENV = ("MA_IMAGE", "MA_IMAGE_ID", "MA_IMAGE_DIGEST")
MAX_CHAIN = 12       # links followed before giving up (a loop of sidecars)


# ------------------------------------------------------------------ where it ran


def git_commit():
    """The project's commit: MA_GIT_COMMIT (set in the image), else `git
    rev-parse HEAD` of the checkout, else the package version."""
    value = os.environ.get("MA_GIT_COMMIT")
    if value:
        return value
    try:
        out = subprocess.run(["git", "-C", str(files.project_root()), "rev-parse", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             universal_newlines=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown (no git checkout, MA_GIT_COMMIT not set); microattention %s" % __version__


def blas_text():
    """The OpenBLAS build, its kernel and who chose it (the kernel and the
    thread count change the last bits of Caffe's results)."""
    i = blas.info()
    if not i.get("corename") and not i.get("config"):
        return "no OpenBLAS loaded (%s)" % (i.get("library") or "not found")
    return "%s, kernel %s (%s), OPENBLAS_NUM_THREADS=%s" % (
        i.get("config") or "OpenBLAS (version unknown)", i.get("corename") or "?",
        blas.kernel_source(), os.environ.get("OPENBLAS_NUM_THREADS", "not set"))


def image():
    found = [(k, os.environ[k]) for k in IMAGE_ENV if os.environ.get(k)]
    if not found:
        return "not known (no MA_IMAGE, MA_IMAGE_ID or MA_IMAGE_DIGEST in the environment)"
    return ", ".join("%s=%s" % kv for kv in found)


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def device(gpu=None):
    if gpu is None:
        return "CPU: %s, %d logical cores" % (_cpu_model(), os.cpu_count() or 0)
    name = None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader",
                              "-i", str(gpu)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, universal_newlines=True, timeout=20)
        if out.returncode == 0 and out.stdout.strip():
            name = out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return "GPU %d%s" % (int(gpu), ": " + name if name else " (name unknown: no nvidia-smi)")


def environment(gpu=None):
    """What train-fold records about where it ran (provenance.json keys)."""
    return collections.OrderedDict([
        ("git_commit", git_commit()),
        ("caffe_version", caffe.caffe_version()),
        ("blas", blas_text()),
        ("image", image()),
        ("host", socket.gethostname()),
        ("device", device(gpu)),
    ])


# ------------------------------------------------------------------ weights


def _origin(imagenet, pretrained, chain):
    return collections.OrderedDict([("imagenet", imagenet), ("pretrained", pretrained),
                                    ("chain", chain)])


def weights_origin(path, sha256=None):
    """{imagenet: bool, pretrained: bool, chain: [text, ...]} of a weights
    file: each link from the given file back to where its record ends. Only
    a chain that ends at the cvjena ImageNet ResNet-10 (by sha256) counts as
    ImageNet; pretrained: a train-fold of the pretrain protocol (on
    macro-expressions) is a link of the chain.
    A record that exists but is not readable JSON is a UserError naming it."""
    chain = []
    pretrained = False
    path = pathlib.Path(path)
    sha = sha256 or (files.sha256(path) if path.is_file() else None)
    seen = set()
    for _ in range(MAX_CHAIN):
        if sha == fetch.RESNET10_SHA256:
            chain.append("the cvjena ImageNet ResNet-10 (%s, sha256 %s...)"
                         % (path.name, sha[:12]))
            return _origin(True, pretrained, chain)
        if (str(path), sha) in seen:
            break
        seen.add((str(path), sha))
        # a damaged record is an error, never "no record" (which reads as NOT traced)
        sidecar = files.read_json(provenance_path(path),
                                  "write the weights and their record again with the "
                                  "weights command")
        fold_dir = path.parent
        done = (files.read_json(fold_dir / layout.DONE_NAME) if path.name == layout.FINAL_NAME
                else None)
        if sidecar and sidecar.get("output_sha256") == sha:
            inputs = sidecar.get("inputs") or {}
            source = inputs.get("in") or inputs.get("from")
            chain.append("%s: weights %s" % (path.name, sidecar.get("stage")))
            if not source:
                break
            path, sha = pathlib.Path(source.get("path", "")), source.get("sha256")
            continue
        if done and done.get("final_snapshot_sha256") == sha:
            prov = files.read_json(fold_dir / layout.PROVENANCE_NAME) or {}
            settings = done.get("settings") or {}
            pretrained = pretrained or settings.get("protocol") == "pretrain"
            chain.append("%s: train-fold %s/%s (%s)" % (path.name, settings.get("protocol"),
                                                      settings.get("fold"), fold_dir))
            recorded = (prov.get("initial_weights") or {})
            if "imagenet" in recorded:
                chain.extend(recorded.get("chain") or [])
                return _origin(bool(recorded["imagenet"]),
                               pretrained or bool(recorded.get("pretrained")), chain)
            source = (prov.get("inputs") or {}).get("weights")
            if not source:
                break
            path, sha = pathlib.Path(source), settings.get("weights_sha256")
            continue
        chain.append("%s (sha256 %s...): no record of where it came from"
                     % (path.name, (sha or "?")[:12]))
        break
    return _origin(False, pretrained, chain)
