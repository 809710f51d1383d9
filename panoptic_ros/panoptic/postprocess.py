"""From a per-pixel owner map to a PanopticResult: small-stuff removal, ids, areas and tight boxes.

The owner map ("raw") codes each pixel's owner in one integer so that one bincount gives every area:
    0              unknown
    1 + c          stuff channel c            (c in 0..C-1)
    1 + C + n      detection n                (n in 0..N-1)
Sorting these codes gives the segment order: stuff by channel index, then things by detection index.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .result import PanopticResult


def owner_code_count(num_classes: int, num_detections: int) -> int:
    """Number of distinct owner codes (unknown + every channel + every detection)."""
    return 1 + num_classes + num_detections


def _first_last(present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last True column of each row of a bool [K, L] (rows with no True give garbage, not used)."""
    length = present.shape[1]
    first = present.to(torch.uint8).argmax(1)
    last = length - 1 - present.flip(1).to(torch.uint8).argmax(1)
    return first, last


@dataclass
class Resize:
    """A nearest-neighbour resize of a [h, w] map to an image: image row y shows map row rows[y] (and likewise
    columns). Both index vectors are non-decreasing, as any nearest resize of pixel centers is."""
    rows: torch.Tensor    # int64 [H]
    cols: torch.Tensor    # int64 [W]

    def apply(self, small: torch.Tensor) -> torch.Tensor:
        """The resized map (columns on the small map first: the big copy is then whole rows)."""
        return small.index_select(1, self.cols).index_select(0, self.rows)


def segment_stats(raw: torch.Tensor, num_codes: int, resize: Resize | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Area [K] and tight box [K, 4] (x_min, y_min, x_max, y_max, inclusive) of every owner code.

    Two bincounts over (code, row) and (code, column) pairs: linear in pixels, no per-segment loop.
    With ``resize`` the statistics are those of the resized map (image pixels), computed on the small map: each
    map row / column is weighted by how many image rows / columns show it.
    """
    height, width = raw.shape
    device = raw.device
    if num_codes * max(height, width) >= 2**31:
        raw = raw.long()
    rows = raw * height + torch.arange(height, dtype=raw.dtype, device=device).view(-1, 1)
    cols = raw * width + torch.arange(width, dtype=raw.dtype, device=device).view(1, -1)
    if resize is None:
        row_count = torch.bincount(rows.flatten(), minlength=num_codes * height).view(num_codes, height)
        area = row_count.sum(dim=1)
        row_present = row_count > 0
        col_present = torch.bincount(cols.flatten(), minlength=num_codes * width).view(num_codes, width) > 0
        y_min, y_max = _first_last(row_present)
        x_min, x_max = _first_last(col_present)
        return area, torch.stack([x_min, y_min, x_max, y_max], dim=1)
    row_mult = torch.bincount(resize.rows, minlength=height).double()
    col_mult = torch.bincount(resize.cols, minlength=width).double()
    weight = (row_mult.view(-1, 1) * col_mult.view(1, -1)).flatten()
    area = torch.bincount(raw.flatten().long(), weights=weight, minlength=num_codes).round().long()
    # a code is present in a map row when it is in a column some image column shows (and vice versa)
    row_present = torch.bincount(rows.flatten().long(), weights=weight,
                                 minlength=num_codes * height).view(num_codes, height) > 0
    col_present = torch.bincount(cols.flatten().long(), weights=weight,
                                 minlength=num_codes * width).view(num_codes, width) > 0
    y_min, y_max = _first_last(row_present)
    x_min, x_max = _first_last(col_present)
    # map rows -> the first / last image row showing them
    grid_rows = torch.arange(height, device=device)
    grid_cols = torch.arange(width, device=device)
    first_y = torch.searchsorted(resize.rows, grid_rows, right=False)
    last_y = torch.searchsorted(resize.rows, grid_rows, right=True) - 1
    first_x = torch.searchsorted(resize.cols, grid_cols, right=False)
    last_x = torch.searchsorted(resize.cols, grid_cols, right=True) - 1
    return area, torch.stack([first_x[x_min], first_y[y_min], last_x[x_max], last_y[y_max]], dim=1)


def remove_small_stuff(area: torch.Tensor, num_classes: int, stuff_area_threshold: int) -> torch.Tensor:
    """bool [K]: owner codes that become segments. Stuff smaller than the threshold is dropped
    (area == threshold is kept); a detection needs at least one pixel; unknown (0) is never a segment."""
    keep = area > 0
    keep[0] = False
    stuff = keep[1:1 + num_classes]
    stuff &= area[1:1 + num_classes] >= stuff_area_threshold
    return keep


def extract_segments(raw: torch.Tensor, *, thing_mask: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                     stuff_area_threshold: int, resize: Resize | None = None) -> PanopticResult:
    """Turn an owner map into the panoptic id map (ids 1..K consecutive) and its segment list.

    raw: int32 or int64 [H, W] owner codes (see module doc); thing_mask: bool [C]; scores, labels: [N] (any device).
    Thing codes only ever appear for thing detections, so channel codes 1 + c are stuff codes.
    resize: the result is the owner map resized (nearest) to an image; areas, boxes and the stuff threshold are
    in image pixels, exactly as if the resized map had been given, at the small map's cost.
    """
    num_classes = int(thing_mask.numel())
    num_codes = owner_code_count(num_classes, int(scores.numel()))
    area, box = segment_stats(raw, num_codes, resize)
    keep = remove_small_stuff(area, num_classes, stuff_area_threshold)
    kept = torch.nonzero(keep).flatten()
    lut = torch.zeros(num_codes, dtype=torch.int32, device=raw.device)
    lut[kept] = torch.arange(1, kept.numel() + 1, dtype=torch.int32, device=raw.device)
    panoptic = lut[raw]
    if resize is not None:
        panoptic = resize.apply(panoptic)

    stats = torch.cat([kept.view(-1, 1), area[kept].view(-1, 1), box[kept]], dim=1).cpu().tolist()
    scores = scores.detach().cpu().double().tolist()
    labels = labels.detach().cpu().tolist()
    segments = []
    for seg_id, (code, pixels, x0, y0, x1, y1) in enumerate(stats, start=1):
        if code <= num_classes:
            category, isthing, score = code - 1, False, 1.0
        else:
            det = code - 1 - num_classes
            category, isthing, score = int(labels[det]), True, float(scores[det])
        segments.append({"id": seg_id, "category_id": category, "isthing": isthing, "score": score,
                         "bbox": [x0, y0, x1 - x0 + 1, y1 - y0 + 1], "area": pixels})
    return PanopticResult(panoptic, segments)
