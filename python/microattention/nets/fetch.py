"""`weights fetch`: download resnet10_cvgj_iter_320000.caffemodel (cvjena
model zoo) and verify its sha256, deleting a mismatching download."""
import os
import shutil
import urllib.parse
import urllib.request

from microattention import files
from microattention.errors import UserError

RESNET10_FILE = "resnet10_cvgj_iter_320000.caffemodel"
RESNET10_SHA256 = "7291cda37d486d442f05f80784d11e1b53d923a6da512038fee5308158b359e7"
# Listed in cvjena/cnn-models ResNet_preact/ResNet10_cvgj/model_download_link.txt
# (a Google Drive and a Baidu link are listed there too; they need a browser).
RESNET10_URL = ("https://upload.uni-jena.de/data/58493041de6f79.63214979/"
                "resnet10_cvgj_iter_320000.caffemodel")
URL_ENV = "MA_RESNET10_URL"
DEFAULT_PATH = str(files.weights_dir() / RESNET10_FILE)


def fetch(url, out, sha256=RESNET10_SHA256, force=False):
    """Download url (http(s), file:// or a local path) to out, verify sha256.
    A mismatching download is deleted and UserError raised."""
    url, local = _url_of(url)
    if local is not None and os.path.isdir(local):
        raise UserError("--url %s is a folder; give the caffemodel file" % local)
    files.check_outputs([out, out + ".part"], {local: "--url"}, {out: "--out"})
    if os.path.exists(out) and not force:
        try:
            got = files.sha256(out)
        except OSError as exc:
            raise UserError("cannot read the existing --out %s: %s" % (out, exc.strerror or exc))
        if got == sha256:
            print("%s already present, sha256 ok" % out)
            return out
        print("%s exists but its sha256 is %s, not %s: downloading again" % (out, got, sha256))
    got = _download(url, out + ".part", out, sha256)
    print("wrote %s (sha256 %s ok)" % (out, got))
    return out


def _download(url, part, out, sha256):
    """Download url to part, check its sha256 and move it to out; part never stays."""
    print("downloading %s" % url)
    try:
        with files.terminate_as_interrupt():
            try:
                with urllib.request.urlopen(url, timeout=60) as r, open(part, "wb") as f:
                    shutil.copyfileobj(r, f, 1 << 20)
                got = files.sha256(part)
            except KeyboardInterrupt:
                raise UserError("download of %s interrupted; the partial file %s was removed"
                                % (url, part))
            except Exception as exc:
                raise UserError("download of %s failed: %s" % (url, exc))
        if got != sha256:
            raise UserError("sha256 mismatch for %s: got %s, expected %s; the download was "
                            "deleted" % (url, got, sha256))
        os.replace(part, out)
    finally:
        if os.path.exists(part):
            os.unlink(part)
    return got


def _url_of(url):
    """(URL, local path or None) of --url: a URL, a file:// URL or a path."""
    if not url:
        raise UserError("--url is empty")
    if "://" not in url:
        path = os.path.abspath(url)
        return "file://" + urllib.parse.quote(path), path
    if url.startswith("file://"):
        return url, urllib.parse.unquote(urllib.parse.urlparse(url).path)
    return url, None
