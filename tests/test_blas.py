"""OpenBLAS's kernel choice (microattention.blas, tools/openblas-env): the rule
on fake /proc/cpuinfo texts, a user's OPENBLAS_CORETYPE is never changed, and
the kernel in use in the image, through the entrypoint and without it."""
import os
import subprocess
import sys

import pytest

from microattention import blas

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENTRYPOINT = os.path.join(ROOT, "tools", "entrypoint")

BASE = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat sse sse2 ssse3 " \
       "sse4_1 sse4_2 popcnt"
FLAGS = {
    "old": BASE,
    "avx": BASE + " avx",                                       # Sandy Bridge
    "avx2_nofma": BASE + " avx avx2",
    "avx2": BASE + " avx fma avx2 bmi1 bmi2",                   # Haswell, Zen 1-3
    "knl": BASE + " avx fma avx2 avx512f avx512cd avx512pf avx512er",  # no bw/vl/dq
    "avx512": BASE + " avx fma avx2 avx512f avx512dq avx512cd avx512bw avx512vl",
}


def fake_cpuinfo(tmp_path, flags, vendor="GenuineIntel", name="cpuinfo"):
    """A two-processor /proc/cpuinfo text."""
    block = ("processor\t: {i}\nvendor_id\t: {v}\ncpu family\t: 6\nmodel\t\t: 143\n"
             "model name\t: Test CPU\nflags\t\t: {f}\nbugs\t\t:\n\n")
    path = tmp_path / name
    path.write_text(block.format(i=0, v=vendor, f=flags) + block.format(i=1, v=vendor, f=flags))
    return str(path)


@pytest.mark.parametrize("flags,vendor,picked,expected", [
    # OpenBLAS 0.3.13 does not know the CPU and falls back to Prescott
    ("avx512", "GenuineIntel", "Prescott", "SkylakeX"),
    ("avx512", "AuthenticAMD", "Prescott", "SkylakeX"),        # Zen 4 has AVX-512 too
    ("avx2", "GenuineIntel", "Prescott", "Haswell"),
    ("avx2", "AuthenticAMD", "Prescott", "Zen"),
    ("avx2", "HygonGenuine", "Prescott", "Zen"),
    # an older kernel than the CPU allows
    ("avx512", "GenuineIntel", "Haswell", "SkylakeX"),
    ("avx512", "AuthenticAMD", "Zen", "SkylakeX"),
    ("avx2", "GenuineIntel", "Sandybridge", "Haswell"),
    ("avx2", "AuthenticAMD", "Excavator", "Zen"),
    ("avx2", "GenuineIntel", "nehalem", "Haswell"),             # names compare without case
    # Xeon Phi: AVX-512F without BW/VL/DQ would fault in the SkylakeX kernels
    ("knl", "GenuineIntel", "Prescott", "Haswell"),
    # OpenBLAS's own choice is as good: left alone
    ("avx512", "GenuineIntel", "SkylakeX", None),
    ("avx512", "GenuineIntel", "Cooperlake", None),
    ("avx2", "AuthenticAMD", "Zen", None),
    ("avx2", "AuthenticAMD", "Haswell", None),
    ("avx2", "GenuineIntel", "Zen", None),
    # older CPUs: nothing to choose
    ("avx2_nofma", "GenuineIntel", "Prescott", None),
    ("avx", "GenuineIntel", "Prescott", None),
    ("old", "GenuineIntel", "Prescott", None),
    ("old", "AuthenticAMD", "Unknown", None),
    # a kernel name this rule does not know (a newer OpenBLAS), or no OpenBLAS
    ("avx512", "GenuineIntel", "SapphireRapids", None),
    ("avx2", "GenuineIntel", None, None),
])
def test_choice_from_cpuinfo(tmp_path, flags, vendor, picked, expected):
    got_flags, got_vendor = blas.read_cpuinfo(fake_cpuinfo(tmp_path, FLAGS[flags], vendor))
    assert got_vendor == vendor
    assert got_flags == set(FLAGS[flags].split())
    assert blas.choose(got_flags, got_vendor, picked) == expected


@pytest.mark.parametrize("user", ["Prescott", "Haswell", "bogus"])
def test_user_value_never_overridden(tmp_path, user):
    flags, vendor = blas.read_cpuinfo(fake_cpuinfo(tmp_path, FLAGS["avx512"]))
    assert blas.choose(flags, vendor, "Prescott", user_value=user) is None
    env = {blas.ENV: user}
    assert blas.setup(env, cpuinfo=fake_cpuinfo(tmp_path, FLAGS["avx512"])) is None
    assert env == {blas.ENV: user}


def test_cpu_levels():
    assert [blas.cpu_level(FLAGS[k].split()) for k in
            ("old", "avx", "avx2_nofma", "avx2", "knl", "avx512")] == [0, 1, 1, 2, 2, 3]
    assert blas.read_cpuinfo("/nonexistent/cpuinfo") == (set(), "")


# ------------------------------------------------------- the image's OpenBLAS

def _own_choice():
    picked, config = blas.probe_picked()
    if picked is None:
        pytest.skip("no OpenBLAS (libopenblas.so.0) on this machine")
    return picked, config


def test_setup_probes_openblas_and_chooses(tmp_path):
    """setup() asks the real OpenBLAS what it picks by itself and decides
    from the (fake) CPU; the environment it gets is changed accordingly."""
    picked, config = _own_choice()
    assert "DYNAMIC_ARCH" in config     # the image's build, which honours the variable
    level = blas.KERNEL_LEVEL[picked.lower()]
    env = {}
    got = blas.setup(env, cpuinfo=fake_cpuinfo(tmp_path, FLAGS["avx512"]))
    expected = "SkylakeX" if level < 3 else None
    assert got == expected
    assert env.get(blas.ENV) == expected and env.get(blas.SET_ENV) == expected
    assert env[blas.CHECKED_ENV] == "1"
    # checked once: a nested run leaves the environment as it is
    assert blas.setup(env, cpuinfo=fake_cpuinfo(tmp_path, FLAGS["avx512"])) is None
    # an old CPU: nothing set, and no probe needed
    env = {blas.ENV: ""}    # empty counts as unset (0.3.13 would fall back to Prescott)
    assert blas.setup(env, cpuinfo=fake_cpuinfo(tmp_path, FLAGS["old"])) is None
    assert env == {blas.CHECKED_ENV: "1"}


REPORT = ("import ctypes, sys; sys.path.insert(0, %r); from microattention import blas; "
          "i = blas.info(); print(i['corename']); print(blas.kernel_source())"
          % os.path.join(ROOT, "python"))


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in (blas.ENV, blas.CHECKED_ENV, blas.SET_ENV)}
    # run as ourselves: the entrypoint, started as root, would switch users
    env.update(MA_UID=str(os.getuid()), MA_GID=str(os.getgid()))
    env.update(extra)
    return env


def _kernel(cmd, env):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


@pytest.fixture
def avx2_cpu():
    flags, _ = blas.read_cpuinfo()
    if blas.cpu_level(flags) < 2:
        pytest.skip("this CPU has no AVX2+FMA")
    _own_choice()
    return flags


def test_entrypoint_kernel_not_generic(avx2_cpu):
    """Through the image's entrypoint, the kernel OpenBLAS uses is of the
    CPU's level (AVX2 or better), whatever 0.3.13 would pick by itself."""
    core, source = _kernel([ENTRYPOINT, "python3", "-c", REPORT], _clean_env())
    assert blas.KERNEL_LEVEL[core.lower()] >= 2, (core, source)
    picked, _ = _own_choice()
    chosen = blas.choose(avx2_cpu, blas.read_cpuinfo()[1], picked)
    if chosen:
        assert (core, source) == (chosen, "OPENBLAS_CORETYPE=%s (set by microattention "
                                          "for this CPU)" % chosen)
    else:
        assert (core, source) == (picked, "OpenBLAS's own choice")
    # an empty value is not a choice: the same kernel as without it
    assert _kernel([ENTRYPOINT, "python3", "-c", REPORT],
                   _clean_env(OPENBLAS_CORETYPE=""))[0] == core


@pytest.mark.parametrize("user", ["Prescott", "Haswell"])
def test_entrypoint_keeps_user_value(avx2_cpu, user):
    core, source = _kernel([ENTRYPOINT, "python3", "-c", REPORT],
                           _clean_env(OPENBLAS_CORETYPE=user))
    assert (core, source) == (user, "OPENBLAS_CORETYPE=%s (user)" % user)


def test_module_without_entrypoint(avx2_cpu):
    """python3 -m microattention.blas (no entrypoint) applies the same rule
    before numpy loads OpenBLAS and reports the kernel and sgemm figures."""
    env = _clean_env(PYTHONPATH=os.path.join(ROOT, "python"))
    out = _kernel([sys.executable, "-m", "microattention.blas"], env)
    kernel = [l for l in out if l.startswith("kernel:")][0].split()[1]
    assert blas.KERNEL_LEVEL[kernel.lower()] >= 2
    assert [l.split(":")[0] for l in out if l.startswith("sgemm")] == \
        ["sgemm  256", "sgemm  512", "sgemm 1024"]
    user = _kernel([sys.executable, "-m", "microattention.blas"],
                   dict(env, OPENBLAS_CORETYPE="Prescott"))
    assert "kernel:   Prescott (OPENBLAS_CORETYPE=Prescott (user))" in user
    # a name OpenBLAS does not know is the user's too, but the report says it was not taken
    bogus = _kernel([sys.executable, "-m", "microattention.blas"],
                    dict(env, OPENBLAS_CORETYPE="Skylake-X"))
    assert "kernel:   Prescott (OPENBLAS_CORETYPE=Skylake-X (user)); OpenBLAS did not take " \
           "OPENBLAS_CORETYPE=Skylake-X (not a kernel name it knows?)" in bogus


def _source_env(tmp_path, answer, **env):
    """Source tools/openblas-env with a stand-in python3 that answers `choose`
    with `answer` (and leaves a mark that it ran)."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "python3").write_text("#!/bin/sh\ntouch %s\necho '%s'\n" % (tmp_path / "ran", answer))
    (fake / "python3").chmod(0o755)
    base = {k: v for k, v in os.environ.items()
            if k not in (blas.ENV, blas.CHECKED_ENV, blas.SET_ENV)}
    base.update(env, PATH="%s:%s" % (fake, os.environ["PATH"]), MA_HOME=ROOT)
    r = subprocess.run(["sh", "-c", '. "$MA_HOME/tools/openblas-env"; '
                        'echo "${OPENBLAS_CORETYPE-unset} ${MA_OPENBLAS_SET-unset} '
                        '${MA_OPENBLAS_CHECKED-unset}"; env | grep -c "^OPENBLAS_CORETYPE=" || :'],
                       stdout=subprocess.PIPE, universal_newlines=True, env=base)
    return r.stdout.split(), (tmp_path / "ran").exists()


def test_openblas_env_exports_the_choice(tmp_path):
    """The entrypoint's script exports what blas.py chooses (the override
    branch, which this project's own AVX2 machine never takes)."""
    assert _source_env(tmp_path, "SkylakeX") == (["SkylakeX", "SkylakeX", "1", "1"], True)


def test_openblas_env_without_choice(tmp_path):
    assert _source_env(tmp_path, "") == (["unset", "unset", "1", "0"], True)
    # an empty user value is dropped, then the rule applies
    assert _source_env(tmp_path, "Haswell", OPENBLAS_CORETYPE="") == \
        (["Haswell", "Haswell", "1", "1"], True)


def test_openblas_env_keeps_user_value(tmp_path):
    """A user's value is kept and the probe does not even run."""
    assert _source_env(tmp_path, "SkylakeX", OPENBLAS_CORETYPE="Prescott") == \
        (["Prescott", "unset", "unset", "1"], False)


def test_setup_asks_a_child_when_the_loaded_kernel_was_forced(tmp_path, monkeypatch):
    """In a process whose OpenBLAS was loaded under a forced kernel (the
    entrypoint's OPENBLAS_CORETYPE), that kernel is not OpenBLAS's own pick:
    setup() must probe a child, or it would take the forced kernel for the
    pick and choose nothing for a child environment without the variable."""
    monkeypatch.setenv(blas.ENV, "SkylakeX")
    monkeypatch.setattr(blas, "loaded_openblas", lambda: True)
    monkeypatch.setattr(blas, "info", lambda: {"corename": "SkylakeX",
                                               "config": "DYNAMIC_ARCH"})
    monkeypatch.setattr(blas, "probe_picked", lambda: ("Prescott", "DYNAMIC_ARCH"))
    env = {}
    assert blas.setup(env, cpuinfo=fake_cpuinfo(tmp_path, FLAGS["avx512"])) == "SkylakeX"
    assert env[blas.ENV] == "SkylakeX"
    # without a forced kernel the loaded library's own pick is used
    monkeypatch.delenv(blas.ENV)
    monkeypatch.setattr(blas, "info", lambda: {"corename": "SkylakeX",
                                               "config": "DYNAMIC_ARCH"})
    assert blas.setup({}, cpuinfo=fake_cpuinfo(tmp_path, FLAGS["avx512"])) is None
