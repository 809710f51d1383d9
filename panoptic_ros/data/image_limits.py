"""Image size limits checked before any pixel is decoded or allocated.

A few-MB PNG can declare 20000x20000 pixels and decode to gigabytes, and the network's float input and logits
multiply that again. The node, ``panoptic predict`` and ``panoptic bag eval`` therefore check the size a frame
declares (raw: its height and width fields; compressed: the PNG / JPEG header, read without decoding) against
``inference.max_input_pixels`` (config/schema.py) and refuse larger frames with :class:`ImageTooLarge`.
"""
from __future__ import annotations

import struct

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG extension) and CC (DAC) share the range but do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset(range(0xD0, 0xDA)) | {0x01}   # RSTn, SOI, EOI, TEM: no length field


class ImageTooLarge(ValueError):
    """A frame declares more pixels than the configured limit (it was not decoded)."""


class UnreadableImageHeader(ValueError):
    """Compressed data whose size cannot be read from its header (not PNG / JPEG, or truncated)."""


def check_pixels(height: int, width: int, max_pixels: int, what: str = "image") -> None:
    """Raise ImageTooLarge when height x width exceeds max_pixels (0 = no limit)."""
    if max_pixels and int(height) * int(width) > max_pixels:
        raise ImageTooLarge(f"{what} of {width}x{height} = {int(height) * int(width)} pixels exceeds "
                            f"max_input_pixels = {max_pixels}; skipped")


def encoded_image_size(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(height, width) declared by PNG or JPEG data, read from its header only."""
    buf = bytes(data[:_header_budget(data)])
    if buf.startswith(_PNG_SIGNATURE):
        if len(buf) < 24 or buf[12:16] != b"IHDR":
            raise UnreadableImageHeader("truncated PNG header")
        width, height = struct.unpack(">II", buf[16:24])
        return int(height), int(width)
    if buf.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    raise UnreadableImageHeader("compressed data is neither PNG nor JPEG (the formats image_transport's "
                                "compressed plugin sends)")


def check_encoded(data: bytes | bytearray | memoryview, max_pixels: int,
                  what: str = "compressed image") -> tuple[int, int]:
    """Header size of PNG / JPEG data, checked against max_pixels before decoding; returns (height, width)."""
    height, width = encoded_image_size(data)
    check_pixels(height, width, max_pixels, what)
    return height, width


def _header_budget(data) -> int:
    return min(len(data), 64)


def _jpeg_size(data) -> tuple[int, int]:
    """Walk the JPEG marker segments up to the first start-of-frame (no entropy-coded data is read)."""
    view = memoryview(data) if not isinstance(data, memoryview) else data
    n = len(view)
    pos = 2
    while pos + 4 <= n:
        if view[pos] != 0xFF:
            raise UnreadableImageHeader(f"corrupt JPEG: no marker at byte {pos}")
        marker = view[pos + 1]
        if marker == 0xFF:           # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        length = (view[pos + 2] << 8) | view[pos + 3]
        if length < 2:
            raise UnreadableImageHeader(f"corrupt JPEG: segment length {length} at byte {pos}")
        if marker in _JPEG_SOF:
            if pos + 9 > n:
                break
            height = (view[pos + 5] << 8) | view[pos + 6]
            width = (view[pos + 7] << 8) | view[pos + 8]
            return int(height), int(width)
        if marker == 0xDA:           # start of scan before any frame header
            break
        pos += 2 + length
    raise UnreadableImageHeader("truncated JPEG: no frame header")
