"""Dockerfile.cuda holds what it promises (every download pinned by version
and sha256, one architecture list), and the image under test has the Caffe it
should: in the CUDA image (MA_CAFFE_CUDA_ARCH_BIN set, from Dockerfile.cuda's
ARG) libcaffe carries GPU code for exactly those architectures and links the
CUDA runtime but not the driver's libcuda (so it starts without a GPU); in the
CPU image libcaffe has no CUDA at all. tools/gpu_check.py's comparison is
checked CPU against CPU (no GPU here)."""
import importlib.util
import os
import re
import shutil
import subprocess

import pytest

# CUDA 11.8's nvcc accepts these real architectures (sm_35.. sm_90).
NVCC_118 = {35, 37, 50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90}
# Pascal (sm_60) to Hopper (sm_90): the range; each major must have SASS.
MAJORS = {6, 7, 8, 9}
LIBCAFFE = "/usr/lib/x86_64-linux-gnu/libcaffe.so.1.0.0"


@pytest.fixture(scope="module")
def dockerfile(project_root):
    return (project_root / "Dockerfile.cuda").read_text()


def arg(text, name):
    found = re.findall(r'^ARG %s="([^"]*)"$' % name, text, re.M)
    assert len(found) == 1, "Dockerfile.cuda must set ARG %s once, with a default" % name
    return [int(a) for a in found[0].split()]


def test_arch_list_covers_pascal_to_hopper(dockerfile):
    sass, ptx = arg(dockerfile, "CUDA_ARCH_BIN"), arg(dockerfile, "CUDA_ARCH_PTX")
    assert set(sass) <= NVCC_118 and set(ptx) <= NVCC_118
    assert {a // 10 for a in sass} == MAJORS
    # PTX of the newest architecture, for GPUs newer than every SASS.
    assert ptx == [max(sass)]


def test_every_download_is_pinned(dockerfile):
    # CUDA 11.8 from bookworm non-free: "name version sha256"
    specs = re.findall(r'^\s*"(\S+) (\S+) ([0-9a-f]+)" \\$', dockerfile, re.M)
    names = [s[0] for s in specs]
    assert {"nvidia-cuda-toolkit", "nvidia-cuda-dev", "libcudart11.0", "libcublas11",
            "libcublaslt11", "libcurand10"} <= set(names)
    assert len(names) == len(set(names))
    for name, version, sha in specs:
        assert version.endswith("~11.8.0-5~deb12u1"), (name, version)   # that exact build
        assert len(sha) == 64, (name, sha)
    # header-only libraries from bookworm main: "pool path sha256"
    headers = re.findall(r'^\s*"(main/\S+\.deb) ([0-9a-f]+)" \\$', dockerfile, re.M)
    assert {h[0].split("/")[-1].split("_")[0] for h in headers} == \
        {"libthrust-dev", "libcub-dev", "libcu++-dev"}
    assert all(len(sha) == 64 for _, sha in headers)
    # every quoted spec line is one of those two kinds
    assert len(re.findall(r'^\s*"[^"]*" \\$', dockerfile, re.M)) == len(specs) + len(headers)
    # each file is checked before it is unpacked; nothing else is fetched
    assert dockerfile.count("curl -fsS") == 2
    assert dockerfile.count('| sha256sum -c --quiet; \\\n      dpkg-deb --fsys-tarfile') == 1
    assert dockerfile.count('echo "$3  $file" | sha256sum -c --quiet') == 1
    assert dockerfile.count('echo "$2  $file" | sha256sum -c --quiet') == 1
    # Caffe's source through apt (hash-checked .dsc), at the CPU image's version
    assert "apt-get source --only-source caffe=1.0.0+git20180821.99bd997-8 " in dockerfile
    # no other image than Debian's base and the CPU image (the others are stages)
    assert re.findall(r"^FROM (\S+)", dockerfile, re.M) == \
        ["debian:bullseye", "bullseye-build", "bullseye-build", "caffe-deps", "cuda", "${BASE}"]


def test_no_cudnn_and_arch_args_reach_cmake(dockerfile):
    assert "-DUSE_CUDNN=OFF" in dockerfile and "-DCPU_ONLY=OFF" in dockerfile
    assert '-DCUDA_ARCH_BIN="$CUDA_ARCH_BIN" -DCUDA_ARCH_PTX="$CUDA_ARCH_PTX"' in dockerfile
    assert "MA_CAFFE_CUDA_ARCH_BIN=${CUDA_ARCH_BIN}" in dockerfile


def linked(path):
    out = subprocess.run(["ldd", path], stdout=subprocess.PIPE, universal_newlines=True,
                         check=True).stdout
    return {line.split()[0] for line in out.splitlines() if "=>" in line}


@pytest.mark.skipif(not os.path.exists(LIBCAFFE), reason="no libcaffe (not in the image)")
def test_libcaffe_matches_the_image(dockerfile):
    bins = os.environ.get("MA_CAFFE_CUDA_ARCH_BIN")
    libs = linked(LIBCAFFE)
    if bins is None:
        # the CPU image: Debian's CPU-only Caffe
        assert not any(l.startswith(("libcudart", "libcublas", "libcurand")) for l in libs)
        return
    assert bins.split() == [str(a) for a in arg(dockerfile, "CUDA_ARCH_BIN")]
    assert os.environ["MA_CAFFE_CUDA_ARCH_PTX"].split() == \
        [str(a) for a in arg(dockerfile, "CUDA_ARCH_PTX")]
    assert {"libcudart.so.11.0", "libcublas.so.11", "libcurand.so.10"} <= libs
    assert "libcuda.so.1" not in libs          # the driver's: only present with a GPU
    assert not any(l.startswith("libcudnn") for l in libs)
    elf = subprocess.run(["cuobjdump", "--list-elf", LIBCAFFE], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    ptx = subprocess.run(["cuobjdump", "--list-ptx", LIBCAFFE], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    assert set(re.findall(r"\.sm_(\d+)\.cubin", elf)) == set(bins.split())
    assert set(re.findall(r"\.sm_(\d+)\.ptx", ptx)) == \
        set(os.environ["MA_CAFFE_CUDA_ARCH_PTX"].split())


@pytest.fixture(scope="module")
def gpu_check(project_root):
    spec = importlib.util.spec_from_file_location(
        "gpu_check", str(project_root / "tools" / "gpu_check.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_relative_error(gpu_check):
    assert gpu_check.relative_error([3.0, 4.0], [3.0, 4.0]) == 0.0
    assert gpu_check.relative_error([3.0, 4.5], [3.0, 4.0]) == pytest.approx(0.1)
    assert gpu_check.relative_error([0.0], [0.0]) == 0.0
    assert gpu_check.relative_error([1e-9], [0.0]) == float("inf")


def test_checker_sees_a_changed_weight(gpu_check, monkeypatch):
    """CPU against CPU: the same weights and input give exactly equal blobs
    and gradients; one changed weight in the second net is caught."""
    caffe = pytest.importorskip("caffe")
    errors = gpu_check.check_net(caffe, "resnet10", batch=2, gpu=None, size=64)
    assert max(e for e, _ in errors) == 0.0
    assert any(name == "blob loss" for _, name in errors)
    assert any(name.startswith("gradient conv1") for _, name in errors)

    real_net = caffe.Net
    built = []

    def second_net_changed(*args, **kwargs):
        net = real_net(*args, **kwargs)
        built.append(net)
        if len(built) == 2:
            net.params["conv1"][0].data.flat[0] += 1.0
        return net
    monkeypatch.setattr(caffe, "Net", second_net_changed)
    errors = gpu_check.check_net(caffe, "resnet10", batch=2, gpu=None, size=64)
    assert errors[0][0] > gpu_check.BOUND


@pytest.mark.skipif(shutil.which("caffe") is None, reason="no caffe (not in the image)")
def test_gpu_check_script_fails_clearly_without_gpu(project_root):
    """Without a GPU (or in the CPU image, whose Caffe has no GPU mode) the
    script stops at its first step and says how to run it."""
    r = subprocess.run([str(project_root / "tools" / "gpu-check.sh")], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    if "Caffe sees no GPU" not in r.stdout and r.returncode == 0:
        pytest.skip("a GPU is present")
    assert r.returncode == 1
    assert "gpu-check: Caffe sees no GPU 0" in r.stdout
    assert "--gpus all" in r.stdout


def test_docs_name_only_compiled_architectures(project_root, dockerfile):
    """Every sm_NN / compute_NN the README, docs/ or gpu-check.sh name is one
    Dockerfile.cuda compiles (its ARGs are the one list)."""
    sass = {str(a) for a in arg(dockerfile, "CUDA_ARCH_BIN")}
    ptx = {str(a) for a in arg(dockerfile, "CUDA_ARCH_PTX")}
    paths = [project_root / "README.md", project_root / "tools" / "gpu-check.sh"]
    paths += sorted((project_root / "docs").glob("*.md"))
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert set(re.findall(r"\bsm_(\d+)", text)) <= sass, path
        assert set(re.findall(r"\bcompute_(\d+)", text)) <= ptx, path
