"""Checking that an image file is complete and decodable before it goes
into the index."""
import io
import warnings

import numpy
from PIL import Image, ImageFile, UnidentifiedImageError


def image_problem(path):
    """None when the file is a complete, decodable image, else why not.

    The bytes are read by Python and decoded from memory: cv2.imread crashes
    (segmentation fault) on some file names that are not UTF-8, and it
    silently decodes the first part of a truncated JPEG. Pillow, with
    truncated images refused, decodes the whole file once (the formats of the
    seven sets are all Pillow's); a file Pillow does not recognise is
    left to OpenCV, which the later stages read images with."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return "cannot read the file: %s" % (exc.strerror or exc)
    if not data:
        return "empty file"
    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                image.load()
        return None
    except UnidentifiedImageError:
        pass  # a format Pillow does not know: OpenCV decides below
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError...
        return "corrupt or truncated image (%s)" % exc
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved
    import cv2  # lazy: slow to import, and only formats Pillow does not know need it
    try:
        image = cv2.imdecode(numpy.frombuffer(data, numpy.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        return "OpenCV cannot decode it"
    return None
