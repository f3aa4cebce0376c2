"""Reading pictures into RGB uint8 arrays and encoding them back to bytes."""

from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import InputError

IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".webp")


def as_rgb(image: np.ndarray, path: str | Path | None = None) -> np.ndarray:
    """Any HxW / HxWx3 / HxWx4 image of any dtype -> contiguous uint8 RGB."""
    from skimage.color import gray2rgb
    from skimage.util import img_as_ubyte

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    if image.ndim == 2:
        image = gray2rgb(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}", path)
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    if (
        np.issubdtype(image.dtype, np.integer)
        and image.dtype != np.uint16
        and image.size
        and 0 <= image.min()
        and image.max() <= 255
    ):  # e.g. an int64 array of 0..255 values: 8-bit data, not a full-range int image
        image = image.astype(np.uint8)
    try:
        image = img_as_ubyte(image)
    except ValueError as e:  # e.g. floats outside [-1, 1]
        raise InputError(f"cannot convert the image to 8-bit RGB ({e})", path) from None
    return np.ascontiguousarray(image)


@contextmanager
def open_image(path: str | Path) -> Iterator[Any]:
    """A PIL image of an untrusted file, header read, nothing decoded yet: the file must be a
    regular file, its size within the max_image_pixels limit (a decompression bomb is refused
    before any pixel is allocated), and any failure to decode, now or while the caller reads
    the pixels inside the block, is an InputError naming the file."""
    from PIL import Image

    from ..limits import check_limit, limit_error
    from .files import open_checked

    path = Path(path)
    try:
        with open_checked(path) as f, Image.open(f) as im:
            w, h = im.size
            check_limit("max_image_pixels", w * h, path, f"image of {w}x{h}")
            yield im
    except InputError:
        raise
    except Image.DecompressionBombError:
        raise limit_error("max_image_pixels", None, path, "image (a decompression bomb)") from None
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, struct.error, ... on broken files
        raise InputError(f"not a readable image ({type(e).__name__}: {e})", path) from None


def read_image(path: str | Path) -> np.ndarray:
    """An image file as uint8 RGB, upright per its EXIF orientation (as viewers show it)."""
    from PIL import ImageOps

    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path)
    if not path.is_file():
        raise InputError("not a file", path)
    with open_image(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode.startswith("I;16") or im.mode == "I":  # 16-bit grey: scale, don't clip
            array = np.asarray(im).astype(np.uint16)
        else:
            array = np.asarray(im.convert("RGB"))
    return as_rgb(array, path)


def encode_image(image: np.ndarray, suffix: str = ".png") -> bytes:
    """RGB uint8 [H, W, 3] -> the bytes of a .png (lossless, OpenCV: fast), .jpg/.jpeg or .webp
    (quality 95) file."""
    suffix = suffix.lower()
    if suffix == ".png":
        import cv2

        ok, buf = cv2.imencode(".png", np.ascontiguousarray(np.asarray(image)[..., ::-1]))
        if not ok:
            raise RuntimeError("PNG encoding failed")
        return buf.tobytes()
    from PIL import Image

    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(suffix)
    if fmt is None:
        raise InputError(f"cannot encode {suffix!r}; supported: {', '.join(IMAGE_OUTPUTS)}")
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image)).save(buf, format=fmt, quality=95)
    return buf.getvalue()
