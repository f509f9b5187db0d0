"""Writing outputs: atomically, and with a clear error when a folder is not ours.

A result file is either complete or absent: everything is written to a
temporary file in the target folder and renamed over the target.
"""
import collections
import hashlib
import json
import os
import pathlib
import signal
import tempfile

from microattention.errors import UserError


def output_dir(path):
    """Create `path` if needed and make sure we may write there.

    The usual failure is a bind-mounted /workspace owned by another uid than
    the container's; the message says how to run as the host user."""
    path = pathlib.Path(path)
    existing = next((p for p in [path, *path.parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UserError("cannot make folder %s: %s is a file" % (path, existing))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    if not (path.is_dir() and os.access(str(path), os.W_OK | os.X_OK)):
        owner = ""
        existing = next((p for p in [path, *path.parents] if p.exists()), None)
        if existing is not None:
            st = existing.stat()
            owner = " (%s belongs to uid %d, we run as uid %d)" % (existing, st.st_uid, os.getuid())
        raise UserError(
            "cannot write to %s%s; the image's containers run as the owner of the mounted "
            "/workspace unless MA_UID/MA_GID say otherwise: make the folder writable for "
            "that user, or choose another output" % (path, owner))
    return path


def atomic_write(path, data):
    """Write str (UTF-8) or bytes to `path` via a temporary file + os.replace."""
    path = pathlib.Path(path)
    output_dir(path.parent)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix="." + path.name + ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # mkstemp creates 0600; give the result the usual permissions.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, str(path))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def to_json(document):
    """The project's JSON text of a document: one-space indent, keys in their
    order, a final newline."""
    return json.dumps(document, indent=1, sort_keys=False) + "\n"


def write_json(path, document):
    """Write a document as to_json's text, atomically."""
    return atomic_write(path, to_json(document))


def read_json(path, advice="remove it to start that fold again", missing=None):
    """A JSON file's content (dicts in file order), None when it does not
    exist (a UserError with the text `missing` when given); a UserError naming
    it (and what to do: `advice`) when it cannot be read."""
    try:
        return json.loads(pathlib.Path(path).read_text(encoding="utf-8"),
                          object_pairs_hook=collections.OrderedDict)
    except FileNotFoundError:
        if missing is not None:
            raise UserError(missing)
        return None
    except (OSError, ValueError) as exc:
        raise UserError("%s is not readable JSON (%s); %s" % (path, exc, advice))


def sha256(path):
    """Hex sha256 of a file, read in 1 MiB blocks; a missing file is a
    UserError naming it. The project's one file-hash helper."""
    digest = hashlib.sha256()
    try:
        with open(str(path), "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        raise UserError("%s does not exist" % path)
    return digest.hexdigest()


def write_if_changed(path, data):
    """Write atomically unless the file already holds exactly `data` (so a
    finished, re-run stage changes no file and no mtime). True if written."""
    path = pathlib.Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        if path.read_bytes() == raw:
            return False
    except OSError:
        pass
    atomic_write(path, raw)
    return True


def check_outputs(outputs, inputs=(), option_names=None):
    """Refuse output paths that are an input, that repeat, or that are an
    existing folder where a file is meant; make sure their folders are
    writable. Call before any long work. `option_names` maps an output path
    to the option that gave it; `inputs` may be a list of paths or a dict
    {path: option}, so that both sides of a clash are named."""
    names = option_names or {}
    in_names = dict(inputs) if isinstance(inputs, dict) else {}

    def in_label(p):
        return "the input %s %s" % (in_names[p], p) if in_names.get(p) else "an input (%s)" % p

    def label(p):
        return "%s %s" % (names[p], p) if p in names else "output %s" % p

    seen = {}
    ins = {os.path.realpath(str(p)): p for p in inputs if p is not None}
    for out in outputs:
        if out is None:
            continue
        real = os.path.realpath(str(out))
        if real in ins:
            raise UserError("%s is also %s; choose another output path"
                            % (label(out), in_label(ins[real])))
        if real in seen:
            raise UserError("%s and %s are the same file" % (label(seen[real]), label(out)))
        seen[real] = out
        if os.path.isdir(real):
            raise UserError("%s is an existing folder; give a file name" % label(out))
        output_dir(pathlib.Path(real).parent)
    return list(seen.values())


def new_dirs(folder):
    """`folder` and those of its parents that do not exist yet, deepest first:
    what writing an output there would create, for remove_empty on failure."""
    made, d = [], os.path.abspath(str(folder))
    while not os.path.exists(d):
        made.append(d)
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return made


def remove_empty(folders):
    """Remove the folders that are still empty, deepest first."""
    for d in folders:
        try:
            os.rmdir(d)
        except OSError:
            pass


def write_together(contents):
    """Write several outputs {path: str or bytes} so that either all of them
    are replaced or none: every temporary is written first, then all are
    renamed. A failure before the renames leaves the old files untouched."""
    staged = []
    try:
        for path, data in contents.items():
            path = pathlib.Path(path)
            output_dir(path.parent)
            if isinstance(data, str):
                data = data.encode("utf-8")
            fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix="." + path.name + ".")
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, 0o666 & ~_umask())
        for tmp, path in staged:
            os.replace(tmp, str(path))
        staged = []
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return [pathlib.Path(p) for p in contents]


def write_or_check(path, text, check, root=None):
    """For the generators of committed files (tools/make_*.py): with `check`,
    report whether `path` already holds `text` (printing "differs: PATH"
    when not); otherwise write it atomically. Returns True when the file is
    (now) as generated."""
    path = pathlib.Path(path)
    shown = os.path.relpath(str(path), str(root)) if root else str(path)
    try:
        same = path.read_text(encoding="utf-8") == text
    except FileNotFoundError:
        same = False
    if check:
        if not same:
            print("differs: %s" % shown)
        return same
    if not same:
        atomic_write(path, text)
        print("wrote %s" % shown)
    return True


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class terminate_as_interrupt:
    """SIGTERM (docker stop, kill, `run` stopping its folds) unwinds like
    Ctrl-C inside the block, so temporaries are removed and nothing
    half-written stays. Outside the main thread signals are left alone."""

    def __enter__(self):
        try:
            self.old = signal.signal(signal.SIGTERM, self._raise)
        except ValueError:
            self.old = None
        return self

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGTERM, self.old)
        return False


def project_root():
    """The folder holding prototxt/, solvers/, weights/: $MA_HOME (set in the
    image to /opt/micro-attention) or the checkout this module lives in."""
    return pathlib.Path(os.environ.get("MA_HOME") or pathlib.Path(__file__).resolve().parents[2])


def input_path(text):
    """A path the user gave: as given, or, when that does not exist and it is
    relative, relative to the project root -- so `workspace/demo/model`, the
    path as seen from the clone, also works in the container, whose working
    directory is /workspace (the project's workspace/ links to it)."""
    if text is None:
        return None
    path = pathlib.Path(text)
    if not path.is_absolute() and not path.exists():
        alternative = project_root() / path
        if alternative.exists():
            # said as the working directory sees it (demo/model, not
            # /opt/micro-attention/workspace/demo/model) where it lies below it
            real = os.path.realpath(str(alternative))
            inside = os.path.commonpath([real, os.getcwd()]) == os.getcwd()
            return os.path.relpath(real) if inside else str(alternative)
    return text


def weights_dir():
    """Where downloaded and converted weights go: $MA_WEIGHTS_DIR (the image
    sets /workspace/weights, since the project folder is read-only there) or
    the checkout's weights/."""
    return pathlib.Path(os.environ.get("MA_WEIGHTS_DIR") or project_root() / "weights")
