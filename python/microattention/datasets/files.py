"""The file system as the dataset readers see it: finding folders and files
below a root, listing a folder with errors that name it, frame numbers of image
files and the frames of a clip folder, and printable paths."""
import errno
import fnmatch
import os
import re
import stat

from microattention.errors import UserError
from microattention.naming import natural_key

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm", ".ppm")

_DIGITS = re.compile(r"(\d+)")


def frame_number(filename):
    """The frame number of an image file: the last run of digits of its stem."""
    stem = os.path.splitext(filename)[0]
    found = _DIGITS.findall(stem)
    return int(found[-1]) if found else None


def is_image(filename):
    return filename.lower().endswith(IMAGE_EXTENSIONS) and not filename.startswith(".")


def listdir(folder):
    """os.listdir with a UserError (naming the folder) instead of an OSError
    for a folder that vanished or may not be read (chmod 000)."""
    try:
        return os.listdir(folder)
    except OSError as exc:
        raise UserError("cannot list the folder %s: %s" % (shown(folder), exc.strerror or exc))


def reach(path):
    """os.stat(path), or None when nothing is there. A path that exists but
    cannot be reached is a UserError that says why, never "missing": a
    symbolic-link loop, a link to nothing, or a folder on the way that may
    not be read (chmod 000)."""
    try:
        return os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError("%s is a symbolic-link loop (a link that leads back to itself); "
                            "fix or remove the link" % shown(path))
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise UserError("%s cannot be reached: permission denied on it or on a folder "
                            "above it (it is not missing; give the user read and search "
                            "permission)" % shown(path))
        if exc.errno == errno.ENOENT and os.path.islink(path):
            raise UserError("%s is a symbolic link to %s, which does not exist"
                            % (shown(path), shown(os.readlink(path))))
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise UserError("%s: %s" % (shown(path), exc.strerror or exc))


def is_folder(path):
    """os.path.isdir that tells a folder that is not there from one that
    cannot be reached (see reach)."""
    st = reach(path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def shown(text):
    """A path or name as printable UTF-8 text: bytes of a file name that are
    not UTF-8 (kept by Python as surrogates) are shown as \\xNN escapes."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def utf8_name(path):
    """True when a path can be written to the UTF-8 index (its name was valid
    UTF-8 on disk)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def same_numbers(folder, names):
    """A UserError-ready text when two image files of a folder carry the same
    frame number (img46.jpg and img046.jpg, or a copy 'img46 (1).jpg' with
    its own digits aside): which one is frame N would depend on the listing
    order. None when the numbers are unique."""
    seen = {}
    clashes = []
    for name in sorted(names):
        number = frame_number(name)
        if number is None:
            continue
        if number in seen:
            clashes.append("%s and %s are both frame %d" % (seen[number], name, number))
        else:
            seen[number] = name
    if not clashes:
        return None
    return "%s: %s; keep one file per frame" % (shown(folder), "; ".join(clashes[:5]))


def list_frames(folder):
    """Map frame number -> file name for the images in a clip folder.

    Frame numbers come from the file names, not from the position in the
    listing, because the coding sheets refer to those numbers (CASME II's
    img46.jpg is frame 46, SAMM's 006_05562.jpg is frame 5562). Two files
    with one number are a UserError (same_numbers)."""
    names = [n for n in listdir(folder) if is_image(n)]
    clash = same_numbers(folder, names)
    if clash:
        raise DuplicateFrames(clash)
    return {frame_number(n): n for n in names if frame_number(n) is not None}


class DuplicateFrames(UserError):
    """Two image files of a clip folder with the same frame number."""


def sorted_images(folder):
    """Image file names of a folder in frame order (for sets without numbers in
    a sheet: SMIC, CK+, Oulu-CASIA, MUG). Two files with one frame number are
    a DuplicateFrames error: their order would be a guess."""
    names = [n for n in listdir(folder) if is_image(n)]
    clash = same_numbers(folder, names)
    if clash:
        raise DuplicateFrames(clash)
    return sorted(names, key=lambda n: (frame_number(n) is None, frame_number(n) or 0,
                                        natural_key(n)))


def _levels(root, depth, unreadable=None):
    """Breadth-first walk: for each level below root (up to depth levels), the
    sorted (path, is_dir) entries; unreadable folders are skipped and listed
    in `unreadable`, so that "not found" can say where it could not look."""
    level = [root]
    for _ in range(depth):
        entries = []
        for folder in level:
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                if unreadable is not None:
                    unreadable.append(folder)
                continue
            entries.extend((os.path.join(folder, n), os.path.isdir(os.path.join(folder, n)))
                           for n in names)
        yield entries
        level = [path for path, is_dir in entries if is_dir]


def find_dir(root, names, depth=2):
    """The first directory below root (breadth first, up to depth levels,
    root itself not included) whose name is one of names (case-insensitive)."""
    wanted = {n.lower() for n in names}
    for entries in _levels(root, depth):
        for path, is_dir in entries:
            if is_dir and os.path.basename(path).lower() in wanted:
                return path
    return None


def unreadable_below(root, depth=2):
    """For a "not found" message: '' or where the search could not look
    (folders below root that may not be listed), since the file or folder
    may be in there rather than missing."""
    unreadable = []
    for _ in _levels(root, depth + 1, unreadable):
        pass
    if not unreadable:
        return ""
    return "; %s could not be read (permission denied?), so it may be in there" % (
        ", ".join(shown(f) for f in unreadable[:5]))



def find_file(root, patterns, depth=2):
    """Files below root (up to depth levels) whose names match one of the
    glob patterns (case-insensitive), in pattern order then path order."""
    found = []
    candidates = [path for entries in _levels(root, depth + 1)
                  for path, is_dir in entries if not is_dir]
    for pattern in patterns:
        for path in candidates:
            if fnmatch.fnmatch(os.path.basename(path).lower(), pattern.lower()) \
                    and path not in found:
                found.append(path)
    return found
