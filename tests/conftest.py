"""Shared test set-up. Tests run inside the image (`run-tests`), where Caffe,
OpenCV and menpo are installed and `python/` is on PYTHONPATH."""
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Also allow `python3 -m pytest tests` from a checkout without PYTHONPATH set.
if str(ROOT / "python") not in sys.path:
    sys.path.insert(0, str(ROOT / "python"))

# Caffe logs every layer it builds through glog; keep test output readable.
os.environ.setdefault("GLOG_minloglevel", "2")


@pytest.fixture(scope="session")
def project_root():
    return ROOT


@pytest.fixture
def read_only():
    """read_only(path): a folder that cannot be written to, made writable again
    at teardown so that pytest can remove it."""
    made = []

    def make(path):
        path.mkdir()
        path.chmod(0o555)
        made.append(path)
        return path
    yield make
    for path in made:
        path.chmod(0o755)
