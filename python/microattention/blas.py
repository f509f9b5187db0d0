"""OpenBLAS's kernel: choose it for this CPU when OpenBLAS would not, and
report it.

Debian 11's OpenBLAS 0.3.13 (DYNAMIC_ARCH) picks its kernel once, when the
library is loaded, from the CPU's family and model. CPUs newer than that
release (e.g. some AVX-512 Xeons) are not in its tables and silently get the
generic `Prescott` kernel, 4-5x slower for Caffe's sgemm. OPENBLAS_CORETYPE
overrides the choice, but it is read only at load time, so it must be set
before numpy or Caffe is loaded: by tools/openblas-env (the image's
entrypoint) and by `setup()` (cli.main, for runs without the entrypoint).

The rule: a user's OPENBLAS_CORETYPE is never changed (an empty one is
dropped: 0.3.13 takes "" as an unknown name and falls back to Prescott).
Otherwise, when the CPU supports AVX-512 (avx512f/bw/vl/dq, what the SkylakeX
kernels use) or AVX2+FMA, and the kernel OpenBLAS picks by itself is of an
older instruction set, OPENBLAS_CORETYPE is set to SkylakeX, or to Haswell
(Intel) / Zen (AMD, Hygon). A kernel name this module does not know (a newer
OpenBLAS) is left alone.

This file only imports the standard library at the top, so that
tools/openblas-env can run it as a script with `python3 -I -S` (~25 ms):
    blas.py choose   prints the OPENBLAS_CORETYPE to set, or nothing
    blas.py probe    prints the kernel OpenBLAS picks in this process
`python3 -m microattention.blas` prints the kernel in use and sgemm GFLOP/s.
"""
import ctypes
import os
import sys

ENV = "OPENBLAS_CORETYPE"
# Set once the choice has been made for this process tree, so that nested
# python3 -m microattention runs (and the entrypoint's children) skip it.
CHECKED_ENV = "MA_OPENBLAS_CHECKED"
# The value set by this rule, so that a report can tell it from a user's.
SET_ENV = "MA_OPENBLAS_SET"

# Instruction-set level of each x86 kernel name of OpenBLAS 0.3.13
# (driver/others/dynamic.c): 0 = SSE-era, 1 = AVX (the AMD Bulldozer family,
# Excavator included, uses AVX/FMA kernels), 2 = AVX2+FMA, 3 = AVX-512.
KERNEL_LEVEL = {}
for _level, _names in enumerate((
        ("Unknown", "Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom",
         "Core2", "Penryn", "Dunnington", "Nehalem", "Athlon", "Opteron", "Opteron_SSE3",
         "Barcelona", "Nano", "Bobcat"),
        ("Sandybridge", "Bulldozer", "Piledriver", "Steamroller", "Excavator"),
        ("Haswell", "Zen"),
        ("SkylakeX", "Cooperlake"))):
    for _name in _names:
        KERNEL_LEVEL[_name.lower()] = _level

AVX512 = ("avx512f", "avx512bw", "avx512vl", "avx512dq")
AMD_VENDORS = ("AuthenticAMD", "HygonGenuine")
LIBRARY = "libopenblas.so.0"


def cpu_level(flags):
    """The highest kernel level these /proc/cpuinfo flags allow (see KERNEL_LEVEL)."""
    flags = set(flags)
    if "avx2" in flags and "fma" in flags:
        return 3 if all(f in flags for f in AVX512) else 2
    return 1 if "avx" in flags else 0


def choose(flags, vendor, picked, user_value=None):
    """The OPENBLAS_CORETYPE to set, or None to leave OpenBLAS's own choice.

    flags: the CPU's /proc/cpuinfo flags; vendor: its vendor_id; picked: the
    kernel OpenBLAS picks without OPENBLAS_CORETYPE (None if unknown);
    user_value: the user's OPENBLAS_CORETYPE, if any."""
    if user_value:
        return None
    level = cpu_level(flags)
    if level < 2 or not picked:
        return None
    picked_level = KERNEL_LEVEL.get(picked.strip().lower())
    if picked_level is None or picked_level >= level:
        return None
    if level == 3:
        return "SkylakeX"
    return "Zen" if vendor in AMD_VENDORS else "Haswell"


def read_cpuinfo(path="/proc/cpuinfo"):
    """(flags, vendor_id) of the first processor in a /proc/cpuinfo text."""
    flags, vendor = set(), ""
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "vendor_id" and not vendor:
                    vendor = value.strip()
                elif key == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return flags, vendor


# ------------------------------------------------------------ the library

def loaded_openblas():
    """Path of the OpenBLAS already mapped into this process, or None."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rstrip("\n").split(None, 5)[-1]
                if "libopenblas" in os.path.basename(path):
                    return path
    except OSError:
        pass
    return None


def _library():
    """ctypes handle on the OpenBLAS numpy/Caffe use (loading it if needed), or None."""
    try:
        return ctypes.CDLL(loaded_openblas() or LIBRARY)
    except OSError:
        return None


def _text(lib, name):
    try:
        fn = getattr(lib, name)
    except AttributeError:
        return None
    fn.restype = ctypes.c_char_p
    value = fn()
    return value.decode("ascii", "replace").strip() if value else None


def info(lib=None):
    """{'corename', 'config', 'threads', 'library'} of the OpenBLAS in this
    process (loads it if numpy has not); values are None without OpenBLAS."""
    lib = lib or _library()
    out = {"corename": None, "config": None, "threads": None,
           "library": loaded_openblas()}
    if lib is None:
        return out
    out["corename"] = _text(lib, "openblas_get_corename")
    out["config"] = _text(lib, "openblas_get_config")
    try:
        out["threads"] = int(lib.openblas_get_num_threads())
    except AttributeError:
        pass
    out["library"] = loaded_openblas()
    return out


def _probe_here():
    """Load OpenBLAS in this (fresh) process, without a forced kernel and with
    one thread (no thread pool to start), and return (corename, config)."""
    os.environ.pop(ENV, None)
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    os.environ["OPENBLAS_VERBOSE"] = "0"
    lib = _library()
    if lib is None:
        return None, None
    return _text(lib, "openblas_get_corename"), _text(lib, "openblas_get_config")


def probe_picked():
    """The kernel OpenBLAS picks by itself on this machine, asked in a child
    process (this one may already have loaded OpenBLAS, with another choice)."""
    import subprocess  # lazy: blas.py also runs as a bare script (-I -S)
    env = {k: v for k, v in os.environ.items() if k != ENV}
    try:
        r = subprocess.run([sys.executable, "-I", "-S", os.path.abspath(__file__), "probe"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           universal_newlines=True, env=env, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None, None
    lines = r.stdout.splitlines()
    if r.returncode != 0 or not lines:
        return None, None
    return lines[0].strip() or None, (lines[1].strip() if len(lines) > 1 else None)


def _decide(picked, config, environ, cpuinfo):
    flags, vendor = read_cpuinfo(cpuinfo)
    if config is not None and "DYNAMIC_ARCH" not in config:
        return None     # one kernel compiled in: OPENBLAS_CORETYPE is ignored
    return choose(flags, vendor, picked, environ.get(ENV))


def setup(environ=None, cpuinfo="/proc/cpuinfo"):
    """Set OPENBLAS_CORETYPE in environ (default os.environ) when the rule
    says so, before numpy or Caffe is loaded. Children (caffe time/train)
    inherit it; if this process has already loaded OpenBLAS, only they do.
    Returns the value set, or None."""
    environ = os.environ if environ is None else environ
    if environ.get(ENV) == "":
        del environ[ENV]
    if environ.get(ENV) or environ.get(CHECKED_ENV):
        return None
    flags, _ = read_cpuinfo(cpuinfo)
    choice = None
    if cpu_level(flags) >= 2:       # nothing to choose on older CPUs: skip the probe
        # The loaded library's kernel is OpenBLAS's own pick only if nothing
        # forced it (an entrypoint's OPENBLAS_CORETYPE); else ask a child.
        if loaded_openblas() and not os.environ.get(ENV):
            picked, config = info()["corename"], info()["config"]
        else:
            picked, config = probe_picked()
        choice = _decide(picked, config, environ, cpuinfo)
        if choice:
            environ[ENV] = environ[SET_ENV] = choice
    environ[CHECKED_ENV] = "1"
    return choice


# ---------------------------------------------------------------- report

def sgemm_gflops(sizes=(256, 512, 1024), min_seconds=0.2):
    """{n: GFLOP/s} of numpy float32 n x n matmul (best of repeated runs
    lasting at least min_seconds per size)."""
    import time  # lazy: blas.py also runs as a bare script (-I -S)
    import numpy as np  # lazy: blas.setup runs before numpy may load
    rng = np.random.RandomState(0)
    out = {}
    for n in sizes:
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        np.dot(a, b)                                  # warm-up (thread pool, caches)
        best, spent = float("inf"), 0.0
        while spent < min_seconds or best == float("inf"):
            t0 = time.perf_counter()
            np.dot(a, b)
            dt = time.perf_counter() - t0
            best, spent = min(best, dt), spent + dt
        out[n] = 2.0 * n ** 3 / best / 1e9
    return out


def kernel_source(environ=None):
    """Who chose the kernel: 'OPENBLAS_CORETYPE=X (user)', 'OPENBLAS_CORETYPE=X
    (set by microattention for this CPU)' or "OpenBLAS's own choice"."""
    environ = os.environ if environ is None else environ
    value = environ.get(ENV)
    if not value:
        return "OpenBLAS's own choice"
    if environ.get(CHECKED_ENV) == "1" and environ.get(SET_ENV) == value:
        return "OPENBLAS_CORETYPE=%s (set by microattention for this CPU)" % value
    return "OPENBLAS_CORETYPE=%s (user)" % value


def _not_taken(i):
    """A note when OpenBLAS ignored OPENBLAS_CORETYPE (0.3.13 falls back to
    Prescott for a name it does not know)."""
    asked = os.environ.get(ENV)
    if asked and i["corename"] and asked.lower() != i["corename"].lower():
        return "; OpenBLAS did not take OPENBLAS_CORETYPE=%s (not a kernel name it knows?)" % asked
    return ""


def describe(gflops=None):
    """One line: kernel, who chose it, threads, and sgemm GFLOP/s if given."""
    i = info()
    text = "OpenBLAS kernel %s, %s threads (%s)" % (
        i["corename"] or "unknown (no OpenBLAS loaded)", i["threads"] or "?", kernel_source())
    text += _not_taken(i)
    if gflops:
        text += "; numpy sgemm " + ", ".join("%d: %.1f" % (n, g) for n, g in gflops.items()) \
                + " GFLOP/s"
    return text


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["probe"]:
        core, config = _probe_here()
        print(core or "")
        print(config or "")
        return 0 if core else 1
    if argv[:1] == ["choose"]:
        if cpu_level(read_cpuinfo()[0]) < 2:
            print("")           # nothing to choose: do not even load OpenBLAS
            return 0
        core, config = _probe_here()
        print(_decide(core, config, {}, "/proc/cpuinfo") or "")
        return 0
    i = info()
    print("library:  %s" % i["library"])
    print("config:   %s" % i["config"])
    print("kernel:   %s (%s)%s" % (i["corename"], kernel_source(), _not_taken(i)))
    print("threads:  %s" % i["threads"])
    flags, vendor = read_cpuinfo()
    print("cpu:      %s, level %d (0 SSE, 1 AVX, 2 AVX2+FMA, 3 AVX-512)"
          % (vendor or "?", cpu_level(flags)))
    for n, g in sgemm_gflops().items():
        print("sgemm %4d: %7.1f GFLOP/s" % (n, g))
    return 0


if __name__ == "__main__":
    if __package__:
        setup()     # python3 -m microattention.blas: same rule as the CLI
    sys.exit(main())
