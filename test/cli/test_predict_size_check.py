"""`panoptic predict` checks a PNG / JPEG's declared size before decoding it (issue 19 item 1).

A decompression bomb declares a huge size in a few bytes; decoding it first would allocate the pixels the limit
is meant to refuse. These files declare 20000 x 20000 pixels in a valid header but carry no pixel data: the
check must skip them from the header alone, without ever calling the decoder on them.
"""
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from panoptic_ros.cli.main import main
from panoptic_ros.config import load_config
from panoptic_ros.data import CocoPanopticDataset, make_synthetic_dataset
from panoptic_ros.modeling import build_model, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]
SIDE = 20000


def _png_header_only(height: int, width: int) -> bytes:
    """A PNG signature and IHDR chunk declaring height x width RGB, then IEND: no image data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _jpeg_header_only(height: int, width: int) -> bytes:
    """SOI + a baseline start-of-frame declaring height x width, then EOI: no scan data."""
    sof = struct.pack(">BBHBHHB", 0xFF, 0xC0, 11, 8, height, width, 1) + bytes([1, 0x11, 0])
    return b"\xff\xd8" + sof + b"\xff\xd9"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("predict_size")
    data = make_synthetic_dataset(tmp / "d", 1, seed=8, width=160, height=120)
    cfg = load_config(ROOT / "panoptic_ros" / "configs" / "smoke.yaml", ["inference.device=cpu"])
    model = build_model(cfg, CocoPanopticDataset(data).categories)
    return save_checkpoint(tmp / "model.safetensors", model, cfg, model.categories)


def test_declared_size_is_refused_before_decoding(checkpoint, tmp_path, monkeypatch):
    import cv2

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_bomb.png").write_bytes(_png_header_only(SIDE, SIDE))
    (folder / "b_bomb.jpg").write_bytes(_jpeg_header_only(SIDE, SIDE))
    cv2.imwrite(str(folder / "c_small.png"), np.full((48, 64, 3), 90, np.uint8))

    decoded = []
    real_imdecode = cv2.imdecode

    def spy(buf, flags):
        decoded.append(bytes(buf[:8]))
        return real_imdecode(buf, flags)
    monkeypatch.setattr(cv2, "imdecode", spy)

    out = tmp_path / "o"
    assert main(["predict", "--runtime", "torch", "--model", str(checkpoint), "--images", str(folder),
                 "--out", str(out), "--no-progress", "--no-overlay", "inference.max_input_pixels=10000"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [s["frame"].rsplit("/", 1)[1] for s in summary["skipped"]] == ["a_bomb.png", "b_bomb.jpg"]
    assert all(f"{SIDE}x{SIDE}" in s["reason"] for s in summary["skipped"])
    assert summary["written"] == 1 and (out / "c_small_panoptic.png").is_file()
    assert decoded == [(folder / "c_small.png").read_bytes()[:8]], "only the small image may reach the decoder"
