"""A trained fold as a self-contained model folder (export), and the checked
reading of such a folder (load_model, for predict). The folder's files are
described in the export command (export_command).
"""
import collections
import json
import os
import pathlib
import shutil
import sys
import tempfile

from microattention import augment, files
from microattention.datasets.classes import CLASSES
from microattention.errors import UserError
from microattention.faces.crop import CROP_SIZE, FOREHEAD, MARGIN
from microattention.train import layout

FORMAT = "microattention-model/1"
MODEL_JSON = "model.json"
DEPLOY = "deploy.prototxt"
WEIGHTS = "weights.caffemodel"
AAM = "aam.pkl"
PROVENANCE = "run-provenance.json"
# predict's input: the faces stage's 240x240 gray crop, resized to the net's
# 224 as the test LMDB does (augment.resize_for_test); raw 0-255 values, no
# mean file (the nets normalise their input with the data_bn layer).
PREPROCESSING = collections.OrderedDict([
    ("colour", "gray"), ("channels", 1), ("face_size", augment.FACE_SIZE),
    ("input_size", augment.CROP_SIZE),
    ("resize", "bilinear, face_size to input_size (augment.resize_for_test)"),
    ("scale", 1.0), ("mean", None),
    ("note", "raw 0-255 gray values; the net normalises them in its data_bn layer")])


def _read_json(path, what):
    return files.read_json(path, "train that fold again",
                           missing="%s: no %s there" % (pathlib.Path(path).parent, what))


def find_fold(run, protocol, net, fold=None):
    """The finished fold folder RUN/protocol/net/fold (the only one when no fold is given)."""
    base = layout.net_dir(run, protocol, net)
    if not base.is_dir():
        raise UserError("--run %s has no %s/%s/ folder (no %s run of %s there)"
                        % (run, protocol, net, protocol, net))
    finished = sorted(p.name for p in base.iterdir() if (p / layout.DONE_NAME).is_file())
    if fold is None:
        if len(finished) != 1:
            raise UserError("%s holds %d finished folds (%s); choose one with --fold"
                            % (base, len(finished), ", ".join(finished) or "none"))
        fold = finished[0]
    fold_dir = base / fold
    if not (fold_dir / layout.DONE_NAME).is_file():
        raise UserError("--fold %s: %s is not a finished fold (no done.json); finished: %s"
                        % (fold, fold_dir, ", ".join(finished) or "none"))
    return fold_dir


def describe(fold_dir):
    """model.json's content (without the file hashes) from a finished fold."""
    done = _read_json(fold_dir / layout.DONE_NAME, layout.DONE_NAME)
    prov = _read_json(fold_dir / layout.PROVENANCE_NAME, layout.PROVENANCE_NAME)
    fold_metrics = _read_json(fold_dir / layout.METRICS_NAME, layout.METRICS_NAME)
    # the class family, as train-fold recorded it (older runs: in the test
    # LMDB's sidecar, while that LMDB is still there)
    test_lmdb = prov.get("lmdb", {}).get("test", {})
    family = test_lmdb.get("family")
    if family is None:
        sidecar_path = pathlib.Path(test_lmdb.get("path", str(fold_dir / "lmdb" / "test"))
                                    + ".json")
        family = _read_json(sidecar_path, "test LMDB sidecar")["family"]
    faces_dir = pathlib.Path(prov["inputs"]["faces"])
    faces_settings = None
    if (faces_dir / "settings.json").is_file():
        faces_settings = _read_json(faces_dir / "settings.json", "settings.json")
    crop = collections.OrderedDict([
        ("crop_size", CROP_SIZE), ("forehead", FOREHEAD),
        ("margin", MARGIN), ("one_box_per_clip", True),
        ("landmarks", (faces_settings or {}).get("landmarks", "aam")),
        ("faces_settings", faces_settings)])
    return collections.OrderedDict([
        ("format", FORMAT),
        ("net", done["net"]), ("fold", done["fold"]),
        ("classes", list(fold_metrics["classes"])),
        ("family", family),
        ("preprocessing", PREPROCESSING),
        ("crop", crop),
        ("protocol", collections.OrderedDict([
            ("name", done["protocol"]), ("table", prov.get("protocol_table")),
            ("project_choices", prov.get("project_choices")),
            ("schedule", prov.get("schedule"))])),
        ("settings", done["settings"]),
        ("metrics", done.get("metrics")),
        ("source", collections.OrderedDict([
            ("fold_dir", str(pathlib.Path(fold_dir).resolve())),
            ("final_snapshot", done.get("final_snapshot")),
            ("final_snapshot_sha256", done.get("final_snapshot_sha256")),
            ("caffe_version", prov.get("caffe_version")),
            ("microattention_version", prov.get("microattention_version"))])),
    ]), faces_dir


def export_model(run, protocol, net, out, fold=None):
    """Write the model folder `out` from RUN/protocol/net/fold; returns its path.
    The one call the demo makes: export_model(OUT/runs, "loso",
    "micro_attention", OUT/model, fold=...)."""
    fold_dir = find_fold(run, protocol, net, fold)
    out = pathlib.Path(out)
    if out.exists() and not (out.is_dir() and (not os.listdir(str(out))
                                               or (out / MODEL_JSON).is_file())):
        raise UserError("--out %s exists and is not a model folder; choose another --out" % out)
    doc, faces_dir = describe(fold_dir)
    weights = fold_dir / layout.FINAL_NAME
    if not weights.is_file():
        raise UserError("%s has no final.caffemodel" % fold_dir)
    sources = collections.OrderedDict([
        (DEPLOY, fold_dir / "deploy.prototxt"), (WEIGHTS, weights),
        (PROVENANCE, fold_dir / layout.PROVENANCE_NAME)])
    if doc["crop"]["landmarks"] == "aam" and (faces_dir / "aam.pkl").is_file():
        sources[AAM] = faces_dir / "aam.pkl"
    files.output_dir(out.parent)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=str(out.parent), prefix="." + out.name + "."))
    try:
        hashes = collections.OrderedDict()
        for name, src in sources.items():
            shutil.copyfile(str(src), str(tmp / name))   # follows final.caffemodel's link
            hashes[name] = files.sha256(tmp / name)
        if hashes[WEIGHTS] != doc["source"]["final_snapshot_sha256"]:
            raise UserError("%s does not match the sha256 its done.json recorded (%s)"
                            % (weights, doc["source"]["final_snapshot_sha256"]))
        doc["files_sha256"] = hashes
        (tmp / MODEL_JSON).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        for path in tmp.iterdir():
            path.chmod(0o644)
        tmp.chmod(0o755)
        old = None
        if out.exists():
            old = out.with_name("." + out.name + ".old.%d" % os.getpid())
            os.replace(str(out), str(old))
        os.replace(str(tmp), str(out))
        if old is not None:
            shutil.rmtree(str(old), ignore_errors=True)
    except BaseException:
        shutil.rmtree(str(tmp), ignore_errors=True)
        raise
    sys.stderr.write("export: %s -> %s\n" % (fold_dir, out))
    return out


# ------------------------------------------------------------------ reading

def load_model(folder):
    """model.json of a model folder after checking it: every file present and
    matching its sha256, a known format, classes of a known family. Returns
    (document, sha256 of model.json)."""
    folder = pathlib.Path(folder)
    option = "--model %s" % folder
    if not folder.is_dir():
        raise UserError("%s: no such folder (export one with the export command)" % option)
    path = folder / MODEL_JSON
    if not path.is_file():
        raise UserError("%s has no %s: not a model folder of the export command" % (option,
                                                                                 MODEL_JSON))
    doc = files.read_json(path, "%s: export the model again" % option)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UserError("%s: %s has format %r, not %s" % (
            option, path, doc.get("format") if isinstance(doc, dict) else None, FORMAT))
    hashes = doc.get("files_sha256") or {}
    for name in (DEPLOY, WEIGHTS):
        if name not in hashes:
            raise UserError("%s: %s lists no %s; the folder is incomplete" % (option, path,
                                                                              name))
    for name, digest in hashes.items():
        file_path = folder / name
        if not file_path.is_file():
            raise UserError("%s is incomplete: %s is missing" % (option, file_path))
        actual = files.sha256(file_path)
        if actual != digest:
            raise UserError("%s: %s does not match its sha256 in %s (%s, expected %s); "
                            "export the model again" % (option, file_path, MODEL_JSON,
                                                        actual[:12], digest[:12]))
    family, classes = doc.get("family"), doc.get("classes")
    if family not in CLASSES or list(CLASSES[family]) != list(classes or []):
        raise UserError("%s: classes %s of family %r are none of this project's class families"
                        % (option, classes, family))
    return doc, files.sha256(path)
