"""The project's entry points agree with each other and with the README."""
import os
import re

import pytest
import yaml

from microattention import files
from microattention.errors import UserError


def test_compose_and_ci_run_the_same_test_command(project_root):
    compose = yaml.safe_load((project_root / "compose.yaml").read_text())
    services = compose["services"]
    assert services["test"]["command"] == ["run-tests"]
    assert services["demo"]["command"] == ["python3", "-m", "microattention", "demo"]
    # No fixed user: the entrypoint runs as the owner of the mounted workspace.
    assert all("user" not in service for service in services.values())
    ci = (project_root / ".ci" / "run").read_text()
    # CI runs the README's two commands themselves on a Docker engine, and the
    # same run-tests where it falls back to podman/buildah.
    assert re.search(r"^\s*docker compose run --rm test </dev/null", ci, re.M)
    assert re.search(r"^\s*docker compose run --rm demo python3 -m microattention demo --quick "
                     r"</dev/null", ci, re.M)
    assert re.search(r"^\.ci/in-image run-tests\b", ci, re.M)
    # run-tests is on PATH in the image (tools/ is added to PATH by the Dockerfile).
    assert os.access(str(project_root / "tools" / "run-tests"), os.X_OK)
    assert "/opt/micro-attention/tools" in (project_root / "Dockerfile").read_text()


def test_readme_gives_exactly_the_two_commands(project_root):
    readme = (project_root / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    first = [line.split("#")[0].strip() for line in blocks[0].splitlines() if line.strip()]
    assert first == ["docker compose run --rm demo", "docker compose run --rm test"]


def test_output_dir_refuses_unwritable_folder(tmp_path):
    if os.getuid() == 0:
        pytest.skip("root may write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(UserError, match="cannot write to .*locked"):
            files.output_dir(locked / "demo")
    finally:
        locked.chmod(0o755)


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    files.atomic_write(target, "first\n")

    class Boom(Exception):
        pass

    # A failure while writing keeps the previous complete file and no temporaries.
    real_fdopen = os.fdopen

    def failing_fdopen(fd, mode):
        handle = real_fdopen(fd, mode)
        handle.write = lambda data: (_ for _ in ()).throw(Boom())
        return handle

    monkeypatch.setattr(os, "fdopen", failing_fdopen)
    with pytest.raises(Boom):
        files.atomic_write(target, "second\n")
    monkeypatch.undo()
    assert target.read_text() == "first\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_write_gives_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        target = files.atomic_write(tmp_path / "sub" / "report.md", b"x")
    finally:
        os.umask(mask)
    assert target.read_bytes() == b"x"
    assert target.stat().st_mode & 0o777 == 0o644


def test_check_outputs_refuses_inputs_repeats_and_folders(tmp_path):
    sheet = tmp_path / "coding.xlsx"
    sheet.write_text("x")
    with pytest.raises(UserError, match=r"--out .*coding\.xlsx is also an input"):
        files.check_outputs([sheet], [sheet], {sheet: "--out"})
    a = tmp_path / "a.csv"
    with pytest.raises(UserError, match="are the same file"):
        files.check_outputs([a, tmp_path / "." / "a.csv"])
    with pytest.raises(UserError, match="existing folder"):
        files.check_outputs([tmp_path])
    assert files.check_outputs([a, tmp_path / "b.csv"], [sheet]) == [a, tmp_path / "b.csv"]


def test_write_together_replaces_all_or_none(tmp_path, monkeypatch):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    files.write_together({a: "a1", b: "b1"})
    calls = []

    def fail_second_write(fd, mode):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_fdopen(fd, mode)

    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", fail_second_write)
    with pytest.raises(OSError, match="disk full"):
        files.write_together({a: "a2", b: "b2"})
    monkeypatch.undo()
    assert (a.read_text(), b.read_text()) == ("a1", "b1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_output_below_a_file_is_a_user_error(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match=r"results is a file"):
        files.check_outputs([blocker / "sub" / "index.csv"])
    with pytest.raises(UserError, match=r"results is a file"):
        files.atomic_write(blocker / "x.csv", "x")


def test_write_or_check_reports_and_writes(tmp_path, capsys):
    path = tmp_path / "gen" / "file.txt"
    assert files.write_or_check(path, "a\n", check=True, root=tmp_path) is False
    assert "differs: gen/file.txt" in capsys.readouterr().out
    assert not path.exists()
    assert files.write_or_check(path, "a\n", check=False, root=tmp_path) is True
    assert path.read_text() == "a\n" and "wrote gen/file.txt" in capsys.readouterr().out
    assert files.write_or_check(path, "a\n", check=True) is True


def test_terminate_as_interrupt_turns_sigterm_into_keyboardinterrupt():
    import signal
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with files.terminate_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)   # handled before the next statement
            raise AssertionError("SIGTERM did not interrupt")
    assert signal.getsignal(signal.SIGTERM) == before


def _code_files(project_root):
    """The package and the generators: where a fact of the paper could be retyped."""
    package = project_root / "python" / "microattention"
    paths = sorted(package.glob("*.py")) + sorted(package.glob("datasets/*.py")) + \
        sorted((project_root / "tools").glob("make_*.py"))
    return [p for p in paths if p.name != "paper.py"]


def _code_only(source):
    """The source without docstrings and comments, which may quote the paper."""
    import ast
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant) \
                and isinstance(node.value.value, str):
            for i in range(node.lineno - 1, node.end_lineno):
                lines[i] = ""
    return "\n".join(line.split("#")[0] for line in lines)


def test_the_papers_facts_are_typed_only_in_paper_py(project_root):
    """Table 1 counts, the pre-training set sizes, Table 3 and the class list
    come from microattention.paper everywhere else (a retyped copy drifts)."""
    from microattention import paper
    class_list = re.compile(r"""["']happiness["'],\s*["']surprise["'],\s*["']anger["']""")
    table1 = [", ".join(str(n) for n in list(counts.values())[:5])
              for counts in paper.TABLE1.values()]
    pretrain = [str(sum(paper.PRETRAIN_IMAGES.values())), str(paper.PRETRAIN_IMAGES["mug"])]
    table3 = ["(%s, %s)" % (r["params_million"], r["seconds_per_iteration"])
              for r in paper.TABLE3.values()]
    found = []
    for path in _code_files(project_root):
        text = _code_only(path.read_text(encoding="utf-8"))
        for fact in table1 + table3 + pretrain:
            if re.search(r"(?<![\d.])%s(?![\d.])" % re.escape(fact), text):
                found.append("%s: %s" % (path.name, fact))
        if class_list.search(text):
            found.append("%s: the class list" % path.name)
    assert found == []


def test_crop_sizes_come_from_augment():
    from microattention import augment
    from microattention.faces import crop
    from microattention.nets import prototxt
    from microattention.nets import summary_command as summary
    assert crop.CROP_SIZE == augment.FACE_SIZE
    assert prototxt.render_deploy.__defaults__[-1] == augment.CROP_SIZE
    import argparse
    parser = argparse.ArgumentParser()
    summary.add_arguments(parser)
    assert parser.parse_args([]).size == augment.CROP_SIZE
