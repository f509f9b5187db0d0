"""Every command that README.md and docs/demo.md show in a fenced `sh` block
runs as written, in the document's order, on an empty workspace (issue 26).

The test runs inside the image, so a `docker run ... localhost/micro-attention
CMD` or `docker compose run --rm SERVICE [CMD]` becomes CMD (or the service's
command in compose.yaml) started through the image's entrypoint
(tools/entrypoint), from an empty folder standing for /workspace, exactly as
the container would start it. A plain `caffe ...` line is the native-install
form, run from a project root whose workspace/ is that folder. How far each
command is taken:

- `parse`: run as written with argparse stopped right after it accepted the
  arguments (a sitecustomize in PYTHONPATH): the program, script or module is
  found as written and every option and value is checked, as far as `--help`
  would go, without doing the work (training takes hours);
- `run`: run for real (`reproduce --plan` on a data folder an earlier command
  made, the rehearsal tree), exit status 0;
- `help`: `--help` appended (run-tests: pytest's own parser);
- `expect`: run as written, its output must show it got past the paths and
  options (caffe reads the solver and builds the net, then stops at the empty
  workspace's missing LMDB; gpu-check.sh stops at "no GPU" without one).

Commands that cannot run here (a build, a host script) are listed in NOT_RUN
with the reason; a fenced command that is neither mapped nor listed fails, and
so does an untagged fenced block (a command could hide there). The controls
plant bad commands (a wrong option, path, solver, service) and check that each
fails."""
import os
import pathlib
import re
import shlex
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "tools" / "entrypoint"
IN_IMAGE = pathlib.Path("/opt/micro-attention/tools/openblas-env").is_file()
DOCS = ("README.md", "docs/demo.md")
LANGUAGES = {"sh": "commands", "text": "not commands", "bibtex": "not commands"}
IMAGES = ("localhost/micro-attention", "localhost/micro-attention:latest",
          "localhost/micro-attention:cuda")
MARKER = "readme-commands: arguments parsed"

# exact command (as the shell splits it, joined by single spaces) -> why not run
NOT_RUN = {
    ".ci/build-image cuda --network host":
        "builds the CUDA image on the host (Docker engine, about 15 minutes of compile)",
}

# Where a command is run for real: cheap, and its inputs exist by then.
REAL = (
    ("reproduce --plan on a data folder that exists",
     lambda argv, cwd: "reproduce" in argv and "--plan" in argv
     and (cwd / option(argv, "--data", "")).is_dir()),
    ("demo-data --rehearsal: the rehearsal tree the next commands read",
     lambda argv, cwd: "demo-data" in argv and "--rehearsal" in argv),
)

# caffe got past the solver and its paths: it builds the training net (then
# stops at the missing LMDB), or, asked for a GPU, reaches the GPU set-up.
CAFFE_REACHED = re.compile(r"Creating training net from net file: prototxt/|"
                           r"Cannot use GPU in CPU-only Caffe|CUDA driver version is insufficient|"
                           r"no CUDA-capable device")
GPU_CHECK_NO_GPU = re.compile(r"gpu-check: Caffe sees no GPU 0")

SITECUSTOMIZE = '''\
import os
if os.environ.get("MA_README_PARSE_ONLY") == "1":
    import argparse
    import sys
    _parse_args = argparse.ArgumentParser.parse_args

    def _parsed_then_exit(self, args=None, namespace=None):
        _parse_args(self, args, namespace)
        sys.stdout.write("%s\\n")
        sys.stdout.flush()
        os._exit(0)
    argparse.ArgumentParser.parse_args = _parsed_then_exit
''' % MARKER


def option(argv, name, default=None):
    return argv[argv.index(name) + 1] if name in argv[:-1] else default


# ------------------------------------------------------------------ reading

def fenced_blocks(text):
    """[(language, first line number, body)] of the ``` blocks of a document."""
    blocks, current = [], None
    for number, line in enumerate(text.splitlines(), 1):
        fence = re.match(r"^\s*```(\S*)\s*$", line)
        if fence and current is None:
            current = (fence.group(1), number + 1, [])
        elif fence:
            blocks.append((current[0], current[1], "\n".join(current[2])))
            current = None
        elif current is not None:
            current[2].append(line)
    assert current is None, "an unclosed ``` block from line %d" % current[1]
    return blocks


def shell_commands(body):
    """The commands of an sh block: continuations joined, comments dropped."""
    out = []
    for logical in re.sub(r"\\\n", " ", body).splitlines():
        tokens = shlex.split(logical, comments=True)
        if tokens:
            out.append(tokens)
    return out


def document_commands(name):
    text = (ROOT / name).read_text(encoding="utf-8")
    commands = []
    for language, line, body in fenced_blocks(text):
        if LANGUAGES.get(language) == "commands":
            commands += [(name, line, tokens) for tokens in shell_commands(body)]
    return commands


def compose_services():
    return yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]


# ------------------------------------------------------------------ mapping

class Unmapped(Exception):
    """A command this test cannot take into the container, or a docker/compose
    line that would fail as written (unknown service, option or image)."""


def take_options(tokens, flags, valued):
    """Leading options of tokens -> ({option: [values]}, rest)."""
    found, i = {}, 0
    while i < len(tokens) and tokens[i].startswith("-"):
        name, _, inline = tokens[i].partition("=")
        if name in flags and not inline:
            found.setdefault(name, []).append(True)
            i += 1
        elif name in valued:
            value = inline or (tokens[i + 1] if i + 1 < len(tokens) else None)
            if value is None:
                raise Unmapped("%s needs a value" % name)
            found.setdefault(name, []).append(value)
            i += 1 if inline else 2
        else:
            raise Unmapped("unknown option %s" % tokens[i])
    return found, tokens[i:]


def environment_of(values):
    env = {}
    for item in values:
        key, sep, value = item.partition("=")
        env[key] = value if sep else os.environ.get(key, "")
    return env


def from_compose(tokens):
    glob, rest = take_options(tokens, set(), {"--profile", "-f", "--file"})
    if rest[:1] != ["run"]:
        raise Unmapped("only `docker compose run` is mapped: %s" % " ".join(rest[:1]))
    opts, rest = take_options(rest[1:], {"--rm", "-T", "--no-deps"},
                              {"-v", "--volume", "-e", "--env", "-w", "--workdir"})
    if not rest:
        raise Unmapped("no service named")
    services = compose_services()
    name, command = rest[0], rest[1:]
    if name not in services:
        raise Unmapped("compose.yaml has no service %r" % name)
    service = services[name]
    missing = set(service.get("profiles", [])) - set(glob.get("--profile", []))
    if service.get("profiles") and missing == set(service["profiles"]):
        raise Unmapped("service %r needs --profile %s" % (name, service["profiles"][0]))
    workdir = (opts.get("-w") or opts.get("--workdir") or [service.get("working_dir")])[-1]
    env = environment_of(opts.get("-e", []) + opts.get("--env", []))
    return command or list(service["command"]), env, workdir


def from_docker_run(tokens):
    opts, rest = take_options(tokens, {"--rm", "-i", "-t", "-it"},
                              {"-v", "--volume", "-e", "--env", "--gpus", "-w", "--workdir",
                               "--network"})
    if not rest or rest[0] not in IMAGES:
        raise Unmapped("not one of the project's images: %s" % (rest[:1] or ["(none)"])[0])
    env = environment_of(opts.get("-e", []) + opts.get("--env", []))
    workdir = (opts.get("-w") or opts.get("--workdir") or [None])[-1]
    return rest[1:], env, workdir


def container_command(tokens):
    """(argv, env, workdir, native) of a documented command, or Unmapped."""
    if tokens[:2] == ["docker", "compose"]:
        return from_compose(tokens[2:]) + (False,)
    if tokens[:2] == ["docker", "run"]:
        return from_docker_run(tokens[2:]) + (False,)
    if tokens[0] == "caffe":
        return tokens, {}, None, True
    raise Unmapped("neither a docker/compose command of the project's image nor `caffe`")


# ------------------------------------------------------------------ running

@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parse-only")
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return folder


def native_root(workspace):
    """A project root (the real one's files) whose workspace/ is `workspace`."""
    root = workspace.parent / (workspace.name + "-project")
    if not root.exists():
        root.mkdir()
        for entry in ROOT.iterdir():
            if entry.name not in ("workspace", ".git"):
                (root / entry.name).symlink_to(entry)
        (root / "workspace").symlink_to(workspace)
    return root


def decide(argv, cwd):
    """(mode, reason) for an argv inside the container."""
    program = os.path.basename(argv[0]) if argv else ""
    if program == "caffe":
        return "expect", CAFFE_REACHED
    if program == "gpu-check.sh":
        return "expect", GPU_CHECK_NO_GPU
    if program == "run-tests":
        return "help", None
    for why, applies in REAL:
        if applies(argv, cwd):
            return "run", why
    return "parse", None


def execute(tokens, workspace, shim):
    """Runs one documented command; returns None when it did what the test
    asks of it, else a message saying what went wrong."""
    text = " ".join(tokens)
    if text in NOT_RUN:
        return None
    try:
        argv, env, workdir, native = container_command(tokens)
    except Unmapped as why:
        return "%s: %s (run it here, or list it in NOT_RUN with the reason)" % (text, why)
    cwd = native_root(workspace) if native else (
        ROOT if workdir == "/opt/micro-attention" else workspace)
    mode, expected = decide(argv, cwd)
    env = dict(os.environ, **env)
    env.update(MA_HOME=str(ROOT), MA_UID=str(os.getuid()), MA_GID=str(os.getgid()),
               GLOG_minloglevel="0", GLOG_logtostderr="1")
    if mode == "parse":
        env.update(MA_README_PARSE_ONLY="1",
                   PYTHONPATH=os.pathsep.join([str(shim), env.get("PYTHONPATH", "")]))
    run_argv = argv + (["--help"] if mode == "help" else [])
    start = run_argv if native else [str(ENTRYPOINT)] + run_argv
    try:
        r = subprocess.run(start, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as error:
        return "%s: %s" % (text, error)
    tail = r.stdout[-2500:]
    if mode == "parse" and (r.returncode != 0 or MARKER not in r.stdout):
        return "%s: its arguments were not accepted (exit %d):\n%s" % (text, r.returncode, tail)
    if mode in ("run", "help") and r.returncode != 0:
        return "%s (%s): exit %d:\n%s" % (text, mode, r.returncode, tail)
    if mode == "expect" and not expected.search(r.stdout) and not (
            r.returncode == 0 and program_ran_on_gpu(argv)):
        return "%s: expected /%s/ in its output (exit %d):\n%s" % (
            text, expected.pattern, r.returncode, tail)
    return None


def program_ran_on_gpu(argv):
    """gpu-check.sh on a machine with a GPU passes: exit 0 is then fine."""
    return os.path.basename(argv[0]) == "gpu-check.sh"


# ------------------------------------------------------------------ the tests

def test_every_fenced_block_says_what_it_holds():
    for name in DOCS:
        for language, line, _ in fenced_blocks((ROOT / name).read_text(encoding="utf-8")):
            assert language in LANGUAGES, \
                "%s:%d: a ``` block without a known language (%s)" % (
                    name, line, ", ".join(sorted(LANGUAGES)))


def test_the_readme_shows_the_commands_this_test_runs():
    commands = [" ".join(t) for _, _, t in document_commands("README.md")]
    assert commands[:2] == ["docker compose run --rm demo", "docker compose run --rm test"]
    assert any("reproduce" in c and "--plan" in c for c in commands)
    assert any(c.startswith("caffe train -solver solvers/") for c in commands)
    assert len(commands) >= 10
    listed = {" ".join(t) for name in DOCS for _, _, t in document_commands(name)}
    assert set(NOT_RUN) <= listed, "NOT_RUN names a command no document shows"


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory):
    return {name: tmp_path_factory.mktemp("workspace") for name in DOCS}


def ordered_commands():
    params = []
    for doc in DOCS:
        for k, (name, line, tokens) in enumerate(document_commands(doc)):
            params.append(pytest.param(name, tokens, id="%s:%d:%d" % (name, line, k)))
    return params


@pytest.mark.skipif(not IN_IMAGE, reason="runs the image's entrypoint and tools")
@pytest.mark.parametrize("name,tokens", ordered_commands())
def test_command_runs_as_written(name, tokens, workspaces, shim):
    problem = execute(tokens, workspaces[name], shim)
    assert problem is None, problem


PLANTED = [
    # a wrong option of a stage
    'docker compose run --rm demo python3 -m microattention index --dataset casme2 '
    '--root data/casme2 --output casme2.csv',
    # a wrong value
    'docker compose run --rm demo python3 -m microattention reproduce --data data --out paper '
    '--jobs two --plan',
    # a script path that does not exist
    'docker run --rm -v "$PWD/workspace:/workspace" localhost/micro-attention '
    'tools/train-fold.sh loso sub01 --index casme2.csv',
    # a wrong option of a tool
    'docker compose run --rm demo validate_loso.py --demo demo --learning-rate 1e-3',
    # a solver that does not exist
    'docker run --rm -v "$PWD/workspace:/workspace" localhost/micro-attention '
    'caffe train -solver solvers/fine_tune.prototxt -weights W',
    'caffe train -solver solvers/finetune.prototxt.bak -weights W',
    # compose: no such service; a profile service without its profile
    'docker compose run --rm demos',
    'docker compose run --rm demo-gpu',
    # an image that is not the project's, and a command neither run nor listed
    'docker run --rm localhost/micro-attention:gpu gpu-check.sh',
    'git clone https://example.org/micro-attention.git',
]


@pytest.mark.skipif(not IN_IMAGE, reason="runs the image's entrypoint and tools")
@pytest.mark.parametrize("line", PLANTED)
def test_a_planted_bad_command_fails(line, tmp_path, shim):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    assert execute(shlex.split(line), workspace, shim) is not None


@pytest.mark.skipif(not IN_IMAGE, reason="runs the image's entrypoint and tools")
def test_the_planted_commands_fixed_pass(tmp_path, shim):
    """The control's control: the same lines, corrected, pass."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    for line in [
            'docker compose run --rm demo python3 -m microattention index --dataset casme2 '
            '--root data/casme2 --out casme2.csv',
            'docker run --rm -v "$PWD/workspace:/workspace" localhost/micro-attention '
            'tools/train_fold.sh loso sub01 --index casme2.csv --faces f --weights w',
            'docker run --rm -v "$PWD/workspace:/workspace" localhost/micro-attention '
            'caffe train -solver solvers/finetune.prototxt -weights W',
            'caffe train -solver solvers/finetune.prototxt -weights W',
            'docker compose --profile gpu run --rm demo-gpu']:
        problem = execute(shlex.split(line), workspace, shim)
        assert problem is None, problem


@pytest.mark.skipif(not IN_IMAGE, reason="runs the image's entrypoint")
def test_parse_only_stops_right_after_the_arguments(tmp_path, shim):
    """The shim reaches a program started through the entrypoint, and the
    program does nothing after its arguments are accepted (a README command
    such as the demo must not run for minutes here)."""
    program = ("import argparse, pathlib; p = argparse.ArgumentParser(); p.add_argument('--x'); "
               "p.parse_args(['--x', '1']); pathlib.Path('ran-on').write_text('')")
    line = "docker compose run --rm demo python3 -c %s" % shlex.quote(program)
    assert execute(shlex.split(line), tmp_path, shim) is None
    assert not (tmp_path / "ran-on").exists()
    # control: an option the program does not know
    bad = "docker compose run --rm demo python3 -c %s" % shlex.quote(
        program.replace("['--x', '1']", "['--y', '1']"))
    assert "not accepted" in execute(shlex.split(bad), tmp_path, shim)


def test_shell_commands_join_continuations_and_drop_comments():
    body = 'docker run --rm \\\n    IMAGE a "b c"   # note\n\n# only a comment\nnext x'
    assert shell_commands(body) == [["docker", "run", "--rm", "IMAGE", "a", "b c"],
                                    ["next", "x"]]
    with pytest.raises(Unmapped, match="unknown option --detach"):
        container_command(["docker", "run", "--detach", IMAGES[0], "x"])
