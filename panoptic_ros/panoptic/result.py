"""PanopticResult: what fuse() returns for one image."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class PanopticResult:
    """A panoptic segmentation of one image.

    panoptic: int32 [H, W]; 0 = unknown / void, every segment has its own positive id.
    segments: one dict per segment, ids 1..K in order (stuff by channel index, then things by detection index):
        {"id": int, "category_id": int (channel index), "isthing": bool, "score": float,
         "bbox": [x, y, w, h] (tight box of the segment's pixels, integers), "area": int (pixel count)}.
    """

    panoptic: torch.Tensor
    segments: list[dict] = field(default_factory=list)

    @classmethod
    def empty(cls, height: int, width: int, device: torch.device | str = "cpu") -> PanopticResult:
        """All-unknown result (also the result of a 0-pixel image)."""
        return cls(torch.zeros((height, width), dtype=torch.int32, device=device), [])

    @property
    def height(self) -> int:
        return int(self.panoptic.shape[0])

    @property
    def width(self) -> int:
        return int(self.panoptic.shape[1])

    def segment(self, segment_id: int) -> dict:
        """The segment dict with this id (KeyError names the id)."""
        for seg in self.segments:
            if seg["id"] == segment_id:
                return seg
        raise KeyError(f"no segment with id {segment_id}")

    def category_map(self, fill: int = -1) -> torch.Tensor:
        """int64 [H, W] channel index of each pixel's segment; `fill` where unknown (semantic view, for overlays)."""
        lut = torch.full((len(self.segments) + 1,), fill, dtype=torch.int64)
        for seg in self.segments:
            lut[seg["id"]] = seg["category_id"]
        return lut.to(self.panoptic.device)[self.panoptic.long()]

    def to(self, device: torch.device | str) -> PanopticResult:
        return PanopticResult(self.panoptic.to(device), [dict(s) for s in self.segments])
