"""The LMDB stage: each split's faces as the Caffe LMDB the nets' Data layer
reads (command.py is the `lmdb` command). The names below are the stage's
public API, used by training, the demo, visualize, export and the tests."""
from microattention.lmdbs.build import VAL_FRACTION, build
from microattention.lmdbs.inputs import read_faces, read_samples_file
from microattention.lmdbs.records import datum_bytes, read_records
from microattention.lmdbs.sheet import inspect
from microattention.lmdbs.writer import ReplaceRefused, sidecar_path

__all__ = ["VAL_FRACTION", "ReplaceRefused", "build", "datum_bytes", "inspect",
           "read_faces", "read_records", "read_samples_file", "sidecar_path"]
