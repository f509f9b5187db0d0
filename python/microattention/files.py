"""Writing outputs: atomically, and with a clear error when a folder is not ours.

A result file is either complete or absent: everything is written to a
temporary file in the target folder and renamed over the target.
"""
import os
import pathlib
import tempfile

from microattention.cli import CommandError


def output_dir(path):
    """Create `path` if needed and make sure we may write there.

    The usual failure is a bind-mounted /workspace owned by another uid than
    the container's; the message says how to run as the host user."""
    path = pathlib.Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        pass
    if not (path.is_dir() and os.access(str(path), os.W_OK | os.X_OK)):
        owner = ""
        existing = next((p for p in [path, *path.parents] if p.exists()), None)
        if existing is not None:
            st = existing.stat()
            owner = " (%s belongs to uid %d, we run as uid %d)" % (existing, st.st_uid, os.getuid())
        raise CommandError(
            "cannot write to %s%s; with Docker Compose run as your own user: "
            "MA_UID=$(id -u) MA_GID=$(id -g) docker compose run ..." % (path, owner))
    return path


def atomic_write_bytes(path, data):
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix="." + path.name + ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, str(path))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path, text):
    return atomic_write_bytes(path, text.encode("utf-8"))
