"""The mask-based merge policies (dense_iou, paste_borderness, mask_heuristic): hand-built cases whose answer is
known, and properties on random inputs (every pixel one segment, ids match the list, detection-order invariance)."""
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panoptic_ros.panoptic import fuse, get_policy
from panoptic_ros.panoptic.fuse import OwnerMap, segments_of
from panoptic_ros.panoptic.mask_merge import box_iou_map, geometric_borderness, paste_masks
from panoptic_ros.panoptic.mask_policies.dense_iou import dense_iou_owner
from panoptic_ros.panoptic.mask_policies.mask_heuristic import mask_heuristic_owner
from panoptic_ros.panoptic.mask_policies.paste_borderness import paste_borderness_owner

# channel 0 thing "a", 1 thing "b", 2 stuff "road", 3 stuff "sky"; owner codes: 1 + c stuff, 5 + n detection n
THINGS = torch.tensor([True, True, False, False])
STUFF_ROAD, STUFF_SKY, DET = 3, 4, 5


def logits_of(classes: torch.Tensor) -> torch.Tensor:
    """Logits [4, H, W] whose argmax is ``classes`` [H, W] (softmax probability of that class ~0.9995)."""
    return torch.nn.functional.one_hot(classes, 4).permute(2, 0, 1).float() * 8.0


# --------------------------------------------------------------------------------------------- dense_iou
def test_dense_iou_outside_pixel_joins_when_its_predicted_box_matches():
    classes = torch.zeros(10, 10, dtype=torch.int64)      # thing "a" everywhere
    box = torch.tensor([[2.0, 2.0, 6.0, 6.0]])
    dense = torch.zeros(4, 10, 10)
    dense[:, :, :] = torch.tensor([7.0, 7.0, 9.0, 9.0]).view(4, 1, 1)   # boxes elsewhere
    dense[:, 0, 0] = box[0]                                              # pixel (0, 0), outside the box: same box
    dense[:, 3, 3] = box[0]                                              # a pixel inside the box
    owner = dense_iou_owner(logits_of(classes), torch.tensor([0.9]), torch.tensor([0]), box_iou_map(dense, box),
                            THINGS, sigma=0.3)
    assert int(owner[0, 0]) == DET and int(owner[3, 3]) == DET
    assert int(owner[9, 9]) == 0                                         # box does not match: stays out
    assert int(owner[4, 4]) != DET                                       # inside the box, but its box differs
    assert (owner == DET).sum() == 2


def test_dense_iou_sigma_and_class_probability():
    classes = torch.zeros(1, 2, dtype=torch.int64)
    classes[0, 1] = 2                                                    # road: P(a) ~ 0
    loc = torch.tensor([[[0.5, 1.0]]])                                   # IoU 0.5 at pixel 0, 1.0 at pixel 1
    own = dense_iou_owner(logits_of(classes), torch.tensor([1.0]), torch.tensor([0]), loc, THINGS, sigma=0.3)
    assert own.tolist() == [[DET, STUFF_ROAD]]
    own = dense_iou_owner(logits_of(classes), torch.tensor([1.0]), torch.tensor([0]), loc, THINGS, sigma=0.6)
    assert own[0, 0] != DET


def test_dense_iou_overlap_goes_to_the_higher_score():
    classes = torch.zeros(1, 3, dtype=torch.int64)
    loc = torch.tensor([[[1.0, 1.0, 0.0]], [[0.0, 1.0, 1.0]]])
    own = dense_iou_owner(logits_of(classes), torch.tensor([0.5, 0.8]), torch.tensor([0, 0]), loc, THINGS)
    assert own.tolist() == [[DET, DET + 1, DET + 1]]


def test_box_iou_map_known_values():
    dense = torch.tensor([0.0, 0.0, 2.0, 2.0]).view(4, 1, 1)
    iou = box_iou_map(dense, torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 3.0, 2.0], [5.0, 5.0, 6.0, 6.0]]))
    assert iou.flatten().tolist() == pytest.approx([1.0, 1 / 3, 0.0])


# --------------------------------------------------------------------------------------------- paste_borderness
def _paste_case(stuffed: int):
    """A (score 0.9) box cols 0..9, B (0.8) cols 6..15, rows 0..9, both class a; ``stuffed`` of the 40 shared
    pixels are road, so B's mask has 100 - k pixels of which 40 - k are already A's."""
    classes = torch.zeros(10, 16, dtype=torch.int64)
    shared = [(r, c) for c in range(6, 10) for r in range(10)]
    for r, c in shared[:stuffed]:
        classes[r, c] = 2
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [6.0, 0.0, 16.0, 10.0]])
    return logits_of(classes), boxes, torch.tensor([0.9, 0.8]), torch.tensor([0, 0])


@pytest.mark.parametrize("stuffed, kept", [(13, False), (15, True)])   # 27/87 = 31% dropped, 25/85 = 29% kept
def test_paste_drops_a_mask_over_the_overlap_fraction(stuffed, kept):
    logits, boxes, scores, labels = _paste_case(stuffed)
    pred = torch.zeros(10, 16)
    own = paste_borderness_owner(logits, boxes, scores, labels, pred, THINGS, overlap=0.3)
    assert bool((own[:, 10:] == DET + 1).all()) == kept                # B's own pixels
    assert bool((own[:, 10:] == 0).all()) == (not kept)                # dropped: thing pixels without owner
    assert (own[own < DET] != STUFF_SKY).all() and (own == STUFF_ROAD).sum() == stuffed   # road stays road
    assert (own[:, :6] == DET).all()



@pytest.mark.parametrize("a_cols, b_cols, kept", [
    ((0, 10), (5, 25), True),     # 20 shared of B's 80 = exactly 0.25: not *more than*; of A's 40 it would be 0.5
    ((0, 10), (4, 24), False),    # 24 of 80 > 0.25
    ((0, 20), (15, 25), False),   # 20 of B's 40 > 0.25; of A's (the kept masks') 80 it would be exactly 0.25
])
def test_paste_overlap_is_more_than_the_fraction_of_the_masks_own_area(a_cols, b_cols, kept):
    """The drop rule's boundary (shared > overlap x area, not >=) and its denominator (the later mask's own area,
    not the kept masks'): the masks differ in area and one case sits exactly on the boundary (issue 19 item 5)."""
    width = max(a_cols[1], b_cols[1])
    logits = logits_of(torch.zeros(4, width, dtype=torch.int64))       # thing "a" everywhere, 4 rows
    boxes = torch.tensor([[a_cols[0], 0.0, a_cols[1], 4.0], [b_cols[0], 0.0, b_cols[1], 4.0]])
    own = paste_borderness_owner(logits, boxes, torch.tensor([0.9, 0.8]), torch.tensor([0, 0]),
                                 torch.zeros(4, width), THINGS, overlap=0.25)
    b_only = own[:, a_cols[1]:b_cols[1]]
    assert bool((b_only == DET + 1).all()) == kept and bool((b_only == 0).all()) == (not kept)
    assert (own[:, a_cols[0]:b_cols[0]] == DET).all()

def test_paste_contested_pixel_goes_to_the_closest_borderness():
    logits, boxes, scores, labels = _paste_case(15)
    geometric = geometric_borderness(boxes, 10, 16)
    for owner_of_shared in (0, 1):   # predicted border-ness = that box's geometric border-ness -> it wins
        own = paste_borderness_owner(logits, boxes, scores, labels, geometric[owner_of_shared], THINGS)
        shared = own[:, 6:10][own[:, 6:10] >= DET]
        assert shared.numel() == 25 and (shared == DET + owner_of_shared).all()


def test_geometric_borderness_values():
    b = geometric_borderness(torch.tensor([[0.0, 0.0, 4.0, 2.0]]), 2, 5)
    # pixel (0, 0): l=0.5 r=3.5, t=0.5 b=1.5 -> sqrt(1/7 * 1/3); pixel centre of column 4 is outside
    assert float(b[0, 0, 0]) == pytest.approx(math.sqrt(1 / 7 / 3))
    assert float(b[0, 0, 4]) == 0.0


# --------------------------------------------------------------------------------------------- mask_heuristic
def _two_masks():
    classes = torch.zeros(1, 3, dtype=torch.int64)
    prob = torch.tensor([[[0.6, 0.6, 0.0]], [[0.0, 1.0, 1.0]]])         # overlap at pixel 1
    return logits_of(classes), torch.tensor([0.9, 0.6]), prob


@pytest.mark.parametrize("a_prob, advanced_owner", [
    (0.6, DET + 1),   # 0.6 x 0.9 = 0.54 < 1.0 x 0.6: the score alone would pick A
    (0.9, DET),       # 0.9 x 0.9 = 0.81 > 1.0 x 0.6: the mask probability alone would pick B
])
def test_mask_heuristic_per_pixel_score_decides_overlaps(a_prob, advanced_owner):
    """advanced: the overlap pixel goes to mask probability x score; each case's answer differs from what one
    factor alone would give (issue 19 item 6). baseline: the higher score."""
    logits, scores, prob = _two_masks()
    prob[0, 0, :2] = a_prob
    advanced = mask_heuristic_owner(logits, scores, prob, THINGS, heuristics="advanced")
    baseline = mask_heuristic_owner(logits, scores, prob, THINGS, heuristics="baseline")
    assert advanced.tolist() == [[DET, advanced_owner, DET + 1]]
    assert baseline.tolist() == [[DET, DET, DET + 1]]


@pytest.mark.parametrize("stuff_prob, expected", [(0.3, STUFF_ROAD), (0.2, 0)])
def test_mask_heuristic_alpha_decides_thing_pixels_without_instance(stuff_prob, expected):
    logits = torch.full((4, 1, 1), -30.0)
    logits[0, 0, 0] = math.log(1 - stuff_prob)                           # a thing pixel (argmax "a")
    logits[2, 0, 0] = math.log(stuff_prob)
    none = torch.zeros(0, 1, 1)
    assert int(mask_heuristic_owner(logits, torch.zeros(0), none, THINGS, alpha=0.25)[0, 0]) == expected
    assert int(mask_heuristic_owner(logits, torch.zeros(0), none, THINGS, heuristics="baseline")[0, 0]) == 0


def test_paste_masks_fills_the_box_only():
    out = paste_masks(torch.ones(1, 28, 28), torch.tensor([[1.0, 2.0, 3.0, 5.0]]), 6, 5)
    inside = torch.zeros(6, 5, dtype=torch.bool)
    inside[2:5, 1:3] = True
    assert torch.allclose(out[0][inside], torch.ones(6)) and (out[0][~inside] == 0).all()


def test_fuse_refuses_mask_policies_with_a_reason():
    with pytest.raises(ValueError, match="PanopticPipeline"):
        fuse(torch.zeros(4, 2, 2), torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64),
             thing_mask=THINGS, policy="dense_iou")
    assert get_policy("mask_heuristic").required_head == "mask_head"
    assert get_policy("paste_borderness").required_head == "borderness"
    assert get_policy("dense_iou").required_head == ""


# --------------------------------------------------------------------------------------------- properties
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scenes(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    height, width = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    n = draw(st.integers(0, 5))
    corners = rng.integers(-2, 2 * max(height, width) + 2, (n, 4)) / 2.0
    boxes = np.concatenate([np.minimum(corners[:, :2], corners[:, 2:]), np.maximum(corners[:, :2], corners[:, 2:])], 1)
    return dict(logits=torch.tensor(rng.normal(size=(4, height, width)), dtype=torch.float32),
                boxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                scores=torch.tensor(rng.permutation(np.arange(1, n + 1)) / (n + 1), dtype=torch.float32),
                labels=torch.tensor(rng.integers(0, 2, n), dtype=torch.int64),
                maps=torch.tensor(rng.random((n, height, width)), dtype=torch.float32),
                policy=draw(st.sampled_from(["dense_iou", "paste_borderness", "mask_heuristic"])),
                perm=torch.tensor(rng.permutation(n), dtype=torch.int64))


def owner_of(s, perm=None):
    p = torch.arange(len(s["scores"])) if perm is None else perm
    boxes, scores, labels, maps = s["boxes"][p], s["scores"][p], s["labels"][p], s["maps"][p]
    if s["policy"] == "dense_iou":
        raw = dense_iou_owner(s["logits"], scores, labels, maps, THINGS)
    elif s["policy"] == "paste_borderness":
        raw = paste_borderness_owner(s["logits"], boxes, scores, labels, maps, THINGS)
    else:
        raw = mask_heuristic_owner(s["logits"], scores, maps, THINGS)
    return raw, OwnerMap(raw, THINGS, scores.double(), labels)


@SETTINGS
@given(scenes())
def test_every_pixel_one_segment_and_ids_match(s):
    raw, owner = owner_of(s)
    assert raw.dtype == torch.int32 and tuple(raw.shape) == tuple(s["logits"].shape[1:])
    assert int(raw.min()) >= 0 and int(raw.max()) < 5 + len(s["scores"])
    for n in range(len(s["scores"])):   # a detection owns only pixels of its own mask
        owned = raw == DET + n
        if s["policy"] == "dense_iou":
            mask = s["maps"][n] * torch.softmax(s["logits"], 0)[s["labels"][n]] > 0.3
        elif s["policy"] == "paste_borderness":
            b = s["boxes"][n]
            ys, xs = torch.meshgrid(torch.arange(raw.shape[0]) + 0.5, torch.arange(raw.shape[1]) + 0.5, indexing="ij")
            inside = (xs >= b[0]) & (xs < b[2]) & (ys >= b[1]) & (ys < b[3])
            mask = inside & (s["logits"].argmax(0) == s["labels"][n])
        else:
            mask = s["maps"][n] > 0.5
        assert not (owned & ~mask).any()
    result = segments_of(owner, 0)
    ids = sorted(int(i) for i in result.panoptic.unique() if i != 0)
    assert ids == [seg["id"] for seg in result.segments]
    assert sum(seg["area"] for seg in result.segments) == int((result.panoptic != 0).sum())


@SETTINGS
@given(scenes())
def test_invariant_to_detection_order(s):
    """Distinct scores: every policy sorts by score first, so permuting the detections permutes the owners."""
    raw, _ = owner_of(s)
    raw_perm, _ = owner_of(s, s["perm"])
    remap = torch.cat([torch.arange(DET), DET + s["perm"]]).to(torch.int32)   # permuted index -> original index
    assert torch.equal(remap[raw_perm.long()], raw)
