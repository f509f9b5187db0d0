"""Caffe's Datum records, both ways: the protobuf encoder the LMDB builder
writes with (no pycaffe import in the workers) and the reader that the
tests, training's test pass and 'lmdb inspect' use; and the bytes a record
takes in an LMDB (the builder's initial map size, the disk budget of a run).

LMDB values larger than a page take whole overflow pages: a 240x240 training
record (57,600 pixel bytes, a 13-byte Datum header, the page header) takes 15
pages of 4 KiB, 61,440 B; a 224x224 test record 13 pages, 53,248 B."""
import os

import numpy as np

from microattention.errors import UserError
from microattention.nets import prototxt

PAGE = 4096
DATUM_OVERHEAD = 64     # Datum header + overflow page header, bytes (about 30)


def record_bytes(size, page=PAGE):
    """Bytes one size x size gray record takes in an LMDB (also the base of
    the LMDB builder's initial map size)."""
    return -(-(size * size + DATUM_OVERHEAD) // page) * page


def _varint(value):
    out = bytearray()
    value &= (1 << 64) - 1   # negative int32/int64 are 10-byte varints in protobuf
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def datum_bytes(image, label):
    """A serialised caffe_pb2.Datum of a 2-D uint8 image: channels (1),
    height (2), width (3), data (4), label (5), written in field order as
    protobuf does (tests compare with caffe_pb2's own SerializeToString).
    Encoded here because importing caffe.proto imports all of pycaffe
    (seconds), and every worker would pay that."""
    height, width = image.shape
    data = image.tobytes()
    return b"".join([b"\x08\x01", b"\x10", _varint(height), b"\x18", _varint(width),
                     b"\x22", _varint(len(data)), data, b"\x28", _varint(int(label))])


def read_records(path):
    """(key, label, uint8 image C x H x W squeezed) of every record, in order."""
    import lmdb  # lazy: an optional library, only needed when an LMDB is read
    pb = prototxt.pb()
    if not os.path.isfile(os.path.join(str(path), "data.mdb")):
        raise UserError("%s is not an LMDB folder (no data.mdb)" % path)
    env = lmdb.open(str(path), readonly=True, lock=False)
    try:
        with env.begin() as txn:
            for key, value in txn.cursor():
                datum = pb.Datum()
                datum.ParseFromString(value)
                yield key.decode("ascii", "replace"), datum.label, _datum_image(datum)
    finally:
        env.close()


def _datum_image(datum):
    """The image of a Datum: decoded when it holds an encoded file, else its
    raw pixels, one channel squeezed, several as H x W x C."""
    if datum.encoded:
        import cv2  # lazy: OpenCV is slow to import and only encoded records need it
        return cv2.imdecode(np.frombuffer(datum.data, np.uint8), cv2.IMREAD_UNCHANGED)
    image = np.frombuffer(datum.data, np.uint8).reshape(
        datum.channels, datum.height, datum.width)
    return image[0] if datum.channels == 1 else image.transpose(1, 2, 0)
