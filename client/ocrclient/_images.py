"""Turn the caller's image objects into ``ocr_pb2.Image`` messages.

Accepted, one image each:

- ``bytes`` / ``bytearray`` / ``memoryview``: an encoded file (JPEG, PNG, ...),
  sent as is; the server decodes it.
- ``str`` / ``os.PathLike``: a file path; its bytes are sent encoded, and the
  path becomes the image id (echoed in the result) unless ``id`` is given.
- a numpy ``uint8`` array, H×W (gray), H×W×1, H×W×3 or H×W×4: sent as raw
  pixels.  Colour arrays are BGR(A), OpenCV's order, unless
  ``channel_order="rgb"``.
- a ``PIL.Image.Image``: sent as raw RGB, RGBA or gray pixels (other modes are
  converted to RGB, or RGBA when they carry transparency).
- an ``ocr_pb2.Image``: passed through (``id`` overrides its id when given).

numpy and Pillow are optional: they are never imported here.  An object is
recognised as an array or a PIL image only when the caller has already
imported that library (it is then in ``sys.modules``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, TypeAlias

from ocrclient.proto.ocr.v1 import ocr_pb2

ChannelOrder: TypeAlias = Literal["bgr", "rgb"]
# numpy arrays and PIL images are the ``Any``: neither library is a dependency.
ImageLike: TypeAlias = (
    "bytes | bytearray | memoryview | str | os.PathLike[str] | ocr_pb2.Image | Any"
)

_ENCODED = (bytes, bytearray, memoryview)
_PATH = (str, os.PathLike)

# channels -> (order when "bgr", order when "rgb")
_ARRAY_ORDERS = {
    1: (ocr_pb2.CHANNEL_ORDER_GRAY, ocr_pb2.CHANNEL_ORDER_GRAY),
    3: (ocr_pb2.CHANNEL_ORDER_BGR, ocr_pb2.CHANNEL_ORDER_RGB),
    4: (ocr_pb2.CHANNEL_ORDER_BGRA, ocr_pb2.CHANNEL_ORDER_RGBA),
}
_PIL_ORDERS = {
    "L": ocr_pb2.CHANNEL_ORDER_GRAY,
    "RGB": ocr_pb2.CHANNEL_ORDER_RGB,
    "RGBA": ocr_pb2.CHANNEL_ORDER_RGBA,
}


def to_image(obj: ImageLike, *, id: str = "", channel_order: ChannelOrder = "bgr") -> ocr_pb2.Image:
    """Build one ``ocr_pb2.Image``; raise TypeError for unsupported objects.

    ValueError means a supported kind with unusable content (wrong array shape
    or dtype, empty bytes); OSError comes from reading a path.
    """
    if channel_order not in ("bgr", "rgb"):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', not {channel_order!r}")
    if isinstance(obj, ocr_pb2.Image):
        image = ocr_pb2.Image()
        image.CopyFrom(obj)
        if id:
            image.id = id
        return image
    if isinstance(obj, _ENCODED):
        return ocr_pb2.Image(encoded=_nonempty(bytes(obj), "image bytes"), id=id)
    if isinstance(obj, _PATH):
        path = Path(obj)
        return ocr_pb2.Image(encoded=_nonempty(path.read_bytes(), str(path)), id=id or str(path))
    if _is_instance_of(obj, "numpy", "ndarray"):
        return ocr_pb2.Image(raw=_raw_from_array(obj, channel_order), id=id)
    if _is_instance_of(obj, "PIL.Image", "Image"):
        return ocr_pb2.Image(raw=_raw_from_pil(obj), id=id)
    raise TypeError(
        f"unsupported image type {type(obj).__module__}.{type(obj).__qualname__}: expected "
        "encoded bytes, a file path, a numpy uint8 array, a PIL image or an ocr_pb2.Image"
    )


def to_images(images: Iterable[ImageLike], *, channel_order: ChannelOrder = "bgr"
              ) -> list[ocr_pb2.Image]:
    """Convert a collection of images; a single image is refused, not iterated.

    Iterating a path string or a numpy array would silently send garbage, so
    anything :func:`to_image` takes as *one* image is a TypeError here.
    """
    if is_single_image(images):
        raise TypeError("expected a list of images, got a single image: wrap it in a list")
    return [to_image(obj, channel_order=channel_order) for obj in images]


def is_single_image(obj: object) -> bool:
    return (isinstance(obj, (*_ENCODED, *_PATH, ocr_pb2.Image))
            or _is_instance_of(obj, "numpy", "ndarray")
            or _is_instance_of(obj, "PIL.Image", "Image"))


def _is_instance_of(obj: object, module: str, cls: str) -> bool:
    """``isinstance(obj, module.cls)`` without importing ``module``: an object of a class
    nobody imported cannot be one.  Another thread may be importing the module right now
    (the CLI's ``--draw`` imports PIL while requests go out), so the class may not exist
    yet: then nothing is an instance of it either."""
    found = getattr(sys.modules.get(module), cls, None)
    return isinstance(found, type) and isinstance(obj, found)


def _nonempty(data: bytes, what: str) -> bytes:
    if not data:
        raise ValueError(f"{what} is empty")
    return data


def _raw_from_array(array: Any, channel_order: ChannelOrder) -> ocr_pb2.RawImage:
    if array.dtype != "uint8":
        raise ValueError(f"image array must be uint8, not {array.dtype}")
    if array.ndim == 2:
        channels = 1
    elif array.ndim == 3 and array.shape[2] in _ARRAY_ORDERS:
        channels = array.shape[2]
    else:
        raise ValueError(f"image array must be HxW, HxWx1, HxWx3 or HxWx4, not {array.shape}")
    height, width = array.shape[:2]
    if not height or not width:
        raise ValueError(f"image array is empty: {array.shape}")
    order = _ARRAY_ORDERS[channels][channel_order == "rgb"]
    # tobytes() is C order whatever the array's strides: no row padding, as required.
    return ocr_pb2.RawImage(pixels=array.tobytes(), width=width, height=height,
                            channel_order=order)


def _raw_from_pil(image: Any) -> ocr_pb2.RawImage:
    if image.mode not in _PIL_ORDERS:
        has_alpha = "A" in image.getbands() or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    width, height = image.size
    return ocr_pb2.RawImage(pixels=image.tobytes(), width=width, height=height,
                            channel_order=_PIL_ORDERS[image.mode])
