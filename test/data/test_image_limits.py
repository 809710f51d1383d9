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


# --------------------------------------------------------------------------------- the JPEG marker walk, exactly
SOI, EOI = b"\xff\xd8", b"\xff\xd9"


def segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def sof(marker: int, height: int, width: int) -> bytes:
    return segment(marker, struct.pack(">BHHB", 8, height, width, 1) + bytes([1, 0x11, 0]))


def error(data) -> str:
    with pytest.raises(UnreadableImageHeader) as info:
        encoded_image_size(data)
    return str(info.value)


@pytest.mark.parametrize("marker", [0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xCF])
def test_every_start_of_frame_marker_gives_the_size(marker):
    assert encoded_image_size(SOI + sof(marker, 300, 500) + EOI) == (300, 500)


def test_segments_before_the_frame_header_are_skipped():
    """A large APP1 (EXIF) block, fill bytes, standalone markers (RST, TEM) and the look-alike markers C4 (DHT),
    C8 and CC (DAC), whose bodies would read as a size, all come before the real frame header."""
    fake = struct.pack(">BHHB", 8, 7, 9, 1) + bytes(6)
    data = (SOI + segment(0xE1, bytes(5000)) + b"\xff\xff\xff" + b"\xff\xd0" + b"\xff\x01" + segment(0xC4, fake)
            + segment(0xC8, fake) + segment(0xCC, fake) + sof(0xC0, 480, 640) + EOI)
    assert encoded_image_size(data) == (480, 640)
    assert check_encoded(data, 480 * 640) == (480, 640)


def test_corrupt_and_truncated_jpeg_headers_name_the_fault():
    assert error(SOI + b"\x00\x00\x00\x00") == "corrupt JPEG: no marker at byte 2"
    assert error(SOI + b"\xff\xe0\x00\x01\x00\x00") == "corrupt JPEG: segment length 1 at byte 2"
    assert error(SOI + segment(0xDA, bytes(8)) + sof(0xC0, 4, 4)) == "truncated JPEG: no frame header"
    assert error(SOI + sof(0xC0, 300, 500)[:8]) == "truncated JPEG: no frame header"   # size bytes cut off
    assert encoded_image_size(SOI + sof(0xC0, 300, 500)[:9]) == (300, 500)            # exactly enough bytes
    assert error(SOI + b"\xff") == "truncated JPEG: no frame header"


def test_png_header_checks_and_messages():
    data = _png_declaring(20, 10)
    assert encoded_image_size(data[:24]) == (10, 20)                                   # IHDR's size fields only
    assert error(data[:23]) == "truncated PNG header"
    assert error(data[:12] + b"IHDX" + data[16:]) == "truncated PNG header"
    assert error(b"BM" + bytes(60)) == ("compressed data is neither PNG nor JPEG (the formats image_transport's "
                                        "compressed plugin sends)")
    assert encoded_image_size(memoryview(data)) == (10, 20) == encoded_image_size(bytearray(data))


def test_check_pixels_boundary_and_message():
    check_pixels(4, 5, 20)                                                             # exactly the limit
    with pytest.raises(ImageTooLarge) as info:
        check_pixels(4, 5, 19, what="frame")
    assert str(info.value) == "frame of 5x4 = 20 pixels exceeds max_input_pixels = 19; skipped"
    with pytest.raises(ImageTooLarge) as info:
        check_encoded(_png_declaring(5, 4), 19)
    assert str(info.value) == "compressed image of 5x4 = 20 pixels exceeds max_input_pixels = 19; skipped"


def test_found_by_mutation_testing():
    """An empty segment (length 2) is valid; the default name in the message is "image"; PNG sizes are unsigned, so
    a header declaring 2^31 columns is refused, not read as a negative width."""
    assert encoded_image_size(SOI + segment(0xE0, b"") + sof(0xC0, 3, 4) + EOI) == (3, 4)
    with pytest.raises(ImageTooLarge) as info:
        check_pixels(4, 5, 19)
    assert str(info.value).startswith("image of 5x4 = 20 pixels")
    assert encoded_image_size(_png_declaring(2**31, 1)) == (1, 2**31)
    with pytest.raises(ImageTooLarge):
        check_encoded(_png_declaring(2**31, 1), 4096 * 4096)
