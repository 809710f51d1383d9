"""`panoptic eval --oracle`: every policy merges ground-truth inputs through the pipeline's merge code."""
import numpy as np

from panoptic_ros.config import InferenceConfig
from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.evaluation.oracle import oracle_prediction
from panoptic_ros.panoptic import MERGE_POLICIES

CATEGORIES = CategoryMap([Category(1, "disc", True, (220, 20, 60)), Category(7, "road", False, (128, 64, 128))])


def occluded_scene():
    """Road everywhere; instance 1 (box 10..40 x 10..40) partly hidden by instance 2 (box 25..55 x 25..55)."""
    pan = np.full((64, 64), 3, dtype=np.int64)
    pan[10:40, 10:40] = 1
    pan[25:55, 25:55] = 2
    segments = [{"id": 1, "category_id": 1, "iscrowd": 0}, {"id": 2, "category_id": 1, "iscrowd": 0},
                {"id": 3, "category_id": 7, "iscrowd": 0}]
    return pan, segments


def pixel_sets(panoptic, ids):
    return sorted(tuple(np.flatnonzero(np.asarray(panoptic) == i)) for i in ids)


def test_oracle_closest_center_reproduces_the_ground_truth_and_box_policies_do_not():
    pan, segments = occluded_scene()
    inference = InferenceConfig(stuff_area_threshold=0)
    pred = oracle_prediction(pan, segments, CATEGORIES, list(MERGE_POLICIES), inference)
    want = pixel_sets(pan, [1, 2, 3])
    for policy in ("closest_center", "mask_heuristic"):
        result = pred.results[policy]
        got = pixel_sets(result.panoptic.numpy(), [s["id"] for s in result.segments])
        assert got == want, policy
    # instance 1's box also covers instance 2's top-left corner: the higher-index-loses tie gives it to 1
    result = pred.results["highest_confidence"]
    assert pixel_sets(result.panoptic.numpy(), [s["id"] for s in result.segments]) != want
    assert pred.semantic.shape == (64, 64) and len(pred.boxes) == 2 and set(pred.fuse_s) == set(MERGE_POLICIES)


def test_oracle_dense_iou_on_a_case_it_solves():
    """The boxes' IoU (225 / 1575) is below sigma, so each mask is exactly its instance; with sigma 0.1 the
    first instance's mask swallows the second."""
    pan, segments = occluded_scene()
    pred = oracle_prediction(pan, segments, CATEGORIES, ["dense_iou"], InferenceConfig(stuff_area_threshold=0))
    result = pred.results["dense_iou"]
    assert pixel_sets(result.panoptic.numpy(), [s["id"] for s in result.segments]) == pixel_sets(pan, [1, 2, 3])
    low = oracle_prediction(pan, segments, CATEGORIES, ["dense_iou"],
                            InferenceConfig(stuff_area_threshold=0, dense_iou_sigma=0.1)).results["dense_iou"]
    assert len([s for s in low.segments if s["isthing"]]) == 1


def test_oracle_paste_borderness_gives_shared_pixels_to_the_matching_borderness():
    """Box 2's mask shares 25% (< 30%) with box 1's and is kept; in the shared square the mask border-ness is box
    2's own geometric border-ness (instance 2 is fully visible), so its pixels go to box 2 except exact ties (the
    diagonal where both boxes' border-ness is equal goes to the first box). With overlap 0.2 box 2 is dropped."""
    pan, segments = occluded_scene()
    result = oracle_prediction(pan, segments, CATEGORIES, ["paste_borderness"],
                               InferenceConfig(stuff_area_threshold=0)).results["paste_borderness"]
    got = result.panoptic.numpy()
    first, second = got[12, 12], got[50, 50]
    assert (got[pan == 1] == first).all()                               # instance 1 keeps all its pixels
    assert ((got == second) & (pan == 2)).sum() >= 0.95 * (pan == 2).sum() and not ((got == second) & (pan != 2)).any()
    dropped = oracle_prediction(pan, segments, CATEGORIES, ["paste_borderness"],
                                InferenceConfig(stuff_area_threshold=0, paste_overlap=0.2)).results["paste_borderness"]
    assert len([s for s in dropped.segments if s["isthing"]]) == 1
