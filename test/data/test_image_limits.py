"""Header-only size checks: hostile PNG / JPEG headers are refused before decoding."""
import struct
import zlib

import cv2
import numpy as np
import pytest

from panoptic_ros.config import PanopticConfig
from panoptic_ros.data.image_limits import (
    ImageTooLarge,
    UnreadableImageHeader,
    check_encoded,
    check_pixels,
    encoded_image_size,
)


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR declares width x height (its data would decode to far more)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = zlib.compress(b"\x00" * 64)
    idat = b"IDAT" + data
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
            + struct.pack(">I", len(data)) + idat + struct.pack(">I", zlib.crc32(idat)))


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_real_encodings_report_their_size(ext):
    image = np.zeros((37, 53, 3), np.uint8)
    ok, buf = cv2.imencode(ext, image)
    assert ok
    assert encoded_image_size(buf.tobytes()) == (37, 53)
    assert check_encoded(buf.tobytes(), 37 * 53) == (37, 53)
    with pytest.raises(ImageTooLarge, match="53x37"):
        check_encoded(buf.tobytes(), 37 * 53 - 1)


def test_hostile_png_header_refused_without_decoding():
    data = _png_declaring(20000, 20000)
    assert len(data) < 200
    assert encoded_image_size(data) == (20000, 20000)
    with pytest.raises(ImageTooLarge, match="20000x20000"):
        check_encoded(data, PanopticConfig().inference.max_input_pixels)


@pytest.mark.parametrize("data", [b"", b"GIF89a....", b"\x89PNG\r\n\x1a\n\x00", b"\xff\xd8\xff\xe0\x00\x10JFIF"])
def test_unreadable_headers(data):
    with pytest.raises(UnreadableImageHeader):
        encoded_image_size(data)


def test_zero_means_no_limit_and_default_is_4k_square():
    check_pixels(100000, 100000, 0)
    assert PanopticConfig().inference.max_input_pixels == 4096 * 4096
    with pytest.raises(ImageTooLarge):
        check_pixels(4097, 4096, 4096 * 4096)
