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
        if not self.segments:
            return torch.full(self.panoptic.shape, fill, dtype=torch.int64, device=self.panoptic.device)
        # ids are 1..K per frame, or stable track ids (large, sparse): look them up in the sorted id list
        ids = torch.tensor(sorted(s["id"] for s in self.segments), dtype=torch.int64)
        by_id = {s["id"]: s["category_id"] for s in self.segments}
        cats = torch.tensor([by_id[int(i)] for i in ids], dtype=torch.int64)
        ids, cats = ids.to(self.panoptic.device), cats.to(self.panoptic.device)
        pixels = self.panoptic.long()
        pos = torch.searchsorted(ids, pixels).clamp_(max=len(ids) - 1)
        return torch.where(ids[pos] == pixels, cats[pos], torch.full_like(pixels, fill))

    def to(self, device: torch.device | str) -> PanopticResult:
        return PanopticResult(self.panoptic.to(device), [dict(s) for s in self.segments])
