"""A fold's settings: what makes its results what they are (settings.json,
and done.json's copy). A fold folder holding other settings is never resumed
or skipped into; the report's mixed-settings check compares the same keys."""
import collections
import json
import pathlib

from microattention import files, protocols
from microattention.errors import UserError
from microattention.train import layout


def fold_settings(protocol, net, fold_id, index, faces, weights, seed, epochs,
                  weights_sha256=None):
    """What makes a fold's results what they are; a fold folder holding other
    settings is never resumed or skipped into."""
    faces_csv = pathlib.Path(faces) / "faces.csv"
    if not faces_csv.is_file():
        raise UserError("--faces %s: no faces.csv there (write it with the faces command)"
                        % faces)
    p = protocols.get(protocol)
    settings = collections.OrderedDict([
        ("format", layout.FORMAT),
        ("protocol", p.name),
        ("net", net),
        ("fold", fold_id),
        ("seed", int(seed)),
        ("epochs", int(epochs or p.total_epochs)),
        ("index_sha256", files.sha256(index)),
        ("faces_csv_sha256", files.sha256(faces_csv)),
        ("weights_sha256", weights_sha256 or files.sha256(weights)),
    ])
    changed = protocols.changes(p)
    if changed:   # only then, so that the table's own runs keep their settings
        settings["protocol_changes"] = changed
    return settings


def setting_text(value):
    if value is None:
        return "not set"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def settings_differences(old, new, ignore=()):
    """["key old -> new"] over the keys of either side: a setting present on
    one side only (protocol_changes, bn_recalibration: written only when
    used) differs from its absence. The report's mixed-settings check uses
    the same keys."""
    keys = list(new) + [k for k in old if k not in new]
    return ["%s %s -> %s" % (k, setting_text(old.get(k)), setting_text(new.get(k)))
            for k in keys if k not in ignore and old.get(k) != new.get(k)]


def finished(fold_dir, settings):
    """done.json of a fold finished with these settings, None when not
    finished; a UserError when it was finished with others."""
    done = files.read_json(pathlib.Path(fold_dir) / layout.DONE_NAME)
    if done is None:
        return None
    diff = settings_differences(done.get("settings", {}), settings)
    if diff:
        raise UserError("%s was finished with other settings (%s); use another --run-dir or "
                        "remove that folder" % (fold_dir, "; ".join(diff)))
    return done


def claim(fold_dir, settings):
    """Write settings.json of an unfinished fold; a UserError when the folder
    holds an unfinished run with other settings."""
    path = pathlib.Path(fold_dir) / layout.SETTINGS_NAME
    old = files.read_json(path)
    changed = settings_differences(old, settings) if old is not None else []
    if changed:
        raise UserError("%s holds an unfinished run with other settings (%s); use another "
                        "--run-dir or remove that folder" % (fold_dir, "; ".join(changed)))
    files.write_if_changed(path, files.to_json(settings))
