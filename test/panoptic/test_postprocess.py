"""Owner map -> segments: ids, areas, tight boxes, small-stuff removal."""
import torch

from panoptic_ros.panoptic.postprocess import extract_segments, segment_stats
from panoptic_ros.panoptic.result import PanopticResult


def test_segment_stats_areas_and_boxes():
    raw = torch.tensor([[0, 1, 1, 0],
                        [0, 0, 3, 0],
                        [3, 0, 0, 0]])
    area, box = segment_stats(raw, 5)
    assert area.tolist() == [8, 2, 0, 2, 0]
    assert box[1].tolist() == [1, 0, 2, 0] and box[3].tolist() == [0, 1, 2, 2]   # x0, y0, x1, y1 inclusive


def test_extract_segments_orders_ids_and_drops_small_stuff():
    # C = 3 (0 thing, 1 and 2 stuff), N = 2: codes 0 unknown, 1..3 channels, 4..5 detections
    raw = torch.tensor([[2, 2, 3, 5],
                        [2, 2, 3, 5],
                        [0, 2, 2, 0]])
    result = extract_segments(raw, thing_mask=torch.tensor([True, False, False]), scores=torch.tensor([0.3, 0.8]),
                              labels=torch.tensor([0, 0]), stuff_area_threshold=3)
    assert isinstance(result, PanopticResult) and result.panoptic.dtype == torch.int32
    assert result.segments == [
        {"id": 1, "category_id": 1, "isthing": False, "score": 1.0, "bbox": [0, 0, 3, 3], "area": 6},
        {"id": 2, "category_id": 0, "isthing": True, "score": 0.800000011920929, "bbox": [3, 0, 1, 2], "area": 2},
    ]
    assert result.panoptic.tolist() == [[1, 1, 0, 2], [1, 1, 0, 2], [0, 1, 1, 0]]   # 2 px of channel 2 < 3


def test_result_helpers():
    result = PanopticResult(torch.tensor([[0, 1], [2, 2]], dtype=torch.int32),
                            [{"id": 1, "category_id": 4, "isthing": False, "score": 1.0, "bbox": [1, 0, 1, 1],
                              "area": 1},
                             {"id": 2, "category_id": 0, "isthing": True, "score": 0.5, "bbox": [0, 1, 2, 1],
                              "area": 2}])
    assert (result.height, result.width) == (2, 2)
    assert result.category_map().tolist() == [[-1, 4], [0, 0]]
    assert result.segment(2)["area"] == 2
    empty = PanopticResult.empty(3, 4)
    assert empty.panoptic.shape == (3, 4) and empty.segments == [] and not empty.panoptic.any()


def test_resized_segments_equal_segments_of_the_resized_map():
    """extract_segments(raw, resize=...) must equal extract_segments on the nearest-resized map, including
    grid rows / columns that no image pixel shows (downscaling) and repeated ones (upscaling)."""
    from panoptic_ros.panoptic.postprocess import Resize

    gen = torch.Generator().manual_seed(0)
    thing_mask = torch.tensor([True, False, False, True])
    for trial in range(40):
        h, w = torch.randint(1, 9, (2,), generator=gen).tolist()
        out_h, out_w = torch.randint(1, 20, (2,), generator=gen).tolist()
        n = int(torch.randint(0, 4, (1,), generator=gen))
        raw = torch.randint(0, 1 + 4 + n, (h, w), generator=gen).int()
        labels = torch.zeros(n, dtype=torch.long)   # channel 0: a thing
        scores = torch.rand(n, generator=gen)
        rows = ((torch.arange(out_h) + 0.5) * h / out_h).floor().long().clamp(0, h - 1)
        cols = ((torch.arange(out_w) + 0.5) * w / out_w).floor().long().clamp(0, w - 1)
        threshold = int(torch.randint(0, 6, (1,), generator=gen))
        big = raw.index_select(0, rows).index_select(1, cols)
        expected = extract_segments(big, thing_mask=thing_mask, scores=scores, labels=labels,
                                    stuff_area_threshold=threshold)
        got = extract_segments(raw, thing_mask=thing_mask, scores=scores, labels=labels,
                               stuff_area_threshold=threshold, resize=Resize(rows, cols))
        assert torch.equal(got.panoptic, expected.panoptic), trial
        assert got.segments == expected.segments, trial


def test_category_map_with_stable_track_ids():
    """Tracked results carry large, sparse ids (stuff below 1000, things above): the lookup must not size a table
    by the largest id, and unknown pixels / ids without a segment get the fill value."""
    import torch

    from panoptic_ros.panoptic.result import PanopticResult

    panoptic = torch.tensor([[0, 3, 1001], [2_000_000_000, 1001, 3]], dtype=torch.int32)
    segments = [{"id": 3, "category_id": 2, "isthing": False}, {"id": 1001, "category_id": 5, "isthing": True}]
    result = PanopticResult(panoptic, segments)
    assert result.category_map().tolist() == [[-1, 2, 5], [-1, 5, 2]]
    assert PanopticResult(panoptic, []).category_map(fill=7).tolist() == [[7, 7, 7], [7, 7, 7]]
