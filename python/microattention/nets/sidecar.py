"""The sidecar OUT.json: the provenance record that the `weights` command
writes next to each weights file: stage, inputs and their sha256, settings,
the output's sha256 (docs/transfer-chain.md)."""
import collections
import json
import os

from microattention import __version__, files


def provenance_path(out):
    """OUT.json next to each weights file this command writes."""
    return str(out) + ".json"


def write_provenance(out, stage, inputs, settings, layers=None):
    """Record where a weights file came from: the stage, the sha256 of every
    input file, the settings and the output's own sha256, so that each link
    of the transfer chain (docs/transfer-chain.md) can be checked."""
    doc = collections.OrderedDict([
        ("format", "microattention-weights/1"), ("stage", stage),
        ("output", os.path.abspath(out)), ("output_sha256", files.sha256(out)),
        ("inputs", collections.OrderedDict(
            (name, collections.OrderedDict([("path", os.path.abspath(path)),
                                            ("sha256", files.sha256(path))]))
            for name, path in inputs.items())),
        ("settings", settings),
        ("microattention_version", __version__),
    ])
    if layers is not None:
        doc["layers"] = layers
    files.atomic_write(provenance_path(out), json.dumps(doc, indent=1) + "\n")


def layers_record(copied, fresh, unused):
    """The 'layers' entry of a record: copied, from fillers, unused source layers."""
    return collections.OrderedDict([("copied", list(copied)), ("from_fillers", list(fresh)),
                                    ("unused_source_layers", list(unused))])
