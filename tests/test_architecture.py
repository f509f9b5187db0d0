"""The package keeps its stage layout: no import circle, no import from a lower
stage up to a higher one, no file over 400 lines, and docs/architecture.* is what
tools/architecture.py draws from today's imports. The checker itself is tried on
a small generated package with each breach planted (a control: a checker that
finds nothing would pass the first test too)."""
import importlib.util
import textwrap

import pytest


@pytest.fixture(scope="module")
def architecture(project_root):
    path = str(project_root / "tools" / "architecture.py")
    spec = importlib.util.spec_from_file_location("architecture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(architecture, root):
    modules = architecture.discover(str(root))
    architecture.read_imports(modules)
    return modules


def test_the_package_keeps_the_rules(architecture, project_root):
    found = architecture.breaches(read(architecture, project_root))
    assert found == [], "\n".join(found)


def test_architecture_doc_and_picture_are_current(architecture, project_root):
    modules = read(architecture, project_root)
    doc = (project_root / architecture.DOC).read_text(encoding="utf-8")
    assert architecture.render_doc(doc, modules) == doc, \
        "docs/architecture.md is stale: run python3 tools/architecture.py --write"
    picture = (project_root / architecture.PICTURE).read_text(encoding="utf-8")
    assert architecture.svg(modules) == picture, \
        "docs/architecture.svg is stale: run python3 tools/architecture.py --write"


def make_package(root, files):
    for rel, text in files.items():
        path = root / "python" / "microattention" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


CLEAN = {
    "__init__.py": "",
    "files.py": "import os\n",
    "nets/__init__.py": "",
    "nets/prototxt.py": "from microattention import files\n\ndef pb():\n    import caffe\n",
    "train/__init__.py": "",
    "train/layout.py": "from microattention.nets import prototxt\n",
    "train/command.py": "from microattention.train import layout\n",
}


def test_a_clean_package_has_no_breach(architecture, tmp_path):
    assert architecture.breaches(read(architecture, make_package(tmp_path, CLEAN))) == []


@pytest.mark.parametrize("plant, expected", [
    ({"nets/prototxt.py": "from microattention.nets import solver\n",
      "nets/solver.py": "from microattention.nets import prototxt\n"},
     "import circle: microattention.nets.prototxt <-> microattention.nets.solver"),
    ({"nets/solver.py": "from microattention.train import layout\n"},
     "stage nets imports microattention.train.layout (stage train, not below it)"),
    ({"nets/solver.py": "x = 1\n" * 401}, "nets/solver.py: 401 lines"),
    ({"nets/solver.py": "def f():\n" + "    x = 1\n" * 61},
     "function f is 62 lines"),
    ({"nets/solver.py": "def f():\n    from microattention import files\n"},
     "imports microattention.files inside a function"),
    ({"train/layout.py": "from microattention.nets.prototxt import _hidden\n"},
     "takes the private name _hidden"),
    ({"train/layout.py": "from microattention.nets import prototxt\nprototxt._pb()\n"},
     "uses the private name microattention.nets.prototxt._pb"),
    ({"train/layout.py": "from microattention.train import command\n"},
     "imports the command module microattention.train.command"),
])
def test_each_planted_breach_is_found(architecture, tmp_path, plant, expected):
    files = dict(CLEAN)
    files.update(plant)
    found = architecture.breaches(read(architecture, make_package(tmp_path, files)))
    assert any(expected in line for line in found), found


def test_the_picture_shows_each_stage_import(architecture, tmp_path):
    modules = read(architecture, make_package(tmp_path, CLEAN))
    assert architecture.stage_edges(modules) == [("train", "nets"), ("nets", "kit")]
    picture = architecture.svg(modules)
    assert picture.count("marker-end") == 1     # train -> nets; arrows to the kit left out
    assert ">command  layout<" in picture


def test_only_the_demo_may_run_another_stages_command(architecture, tmp_path):
    files = dict(CLEAN)
    files.update({"demo/__init__.py": "", "demo/stages.py":
                  "from microattention.train import command\n",
                  "cli.py": 'COMMANDS = {"train-fold": ("microattention.train.layout", "x")}\n'})
    found = architecture.breaches(read(architecture, make_package(tmp_path, files)))
    # layout is a command module now (cli.py names it): train/command.py may not import it
    assert found == ["%s:1: imports the command module microattention.train.layout"
                     % architecture.os.path.relpath(
                         str(tmp_path / "python/microattention/train/command.py"),
                         architecture.ROOT)], found
