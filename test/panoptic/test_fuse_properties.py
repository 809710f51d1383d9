"""Property tests of fuse() on random small inputs, against a per-pixel reference of the documented rule."""
import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panoptic_ros.panoptic import box_policies, fuse

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scenes(draw):
    """Logits, offsets and box corners on a 0.25 / 0.5 grid: exact in float16, so float32 and float16 agree
    exactly and the reference's float64 distances equal fuse()'s float32 ones. Few distinct values -> many ties."""
    num_classes = draw(st.integers(1, 5))
    thing = draw(st.lists(st.booleans(), min_size=num_classes, max_size=num_classes))
    height, width = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = rng.integers(-6, 7, (num_classes, height, width)) / 4.0
    offsets = rng.integers(-6, 7, (2, height, width)) / 2.0
    things = [c for c in range(num_classes) if thing[c]]
    n = draw(st.integers(0, 6)) if things else 0
    corners = rng.integers(-4, 2 * max(height, width) + 4, (n, 4)) / 2.0
    boxes = np.concatenate([np.minimum(corners[:, :2], corners[:, 2:]), np.maximum(corners[:, :2], corners[:, 2:])], 1)
    boxes = boxes[:, [0, 1, 2, 3]]
    scores = rng.choice([0.25, 0.5, 0.75], n)
    labels = rng.choice(things, n) if n else np.zeros(0, np.int64)
    return dict(logits=logits, thing=np.array(thing), boxes=boxes, scores=scores, labels=labels, offsets=offsets,
                policy=draw(st.sampled_from(box_policies())), threshold=draw(st.integers(0, 6)),
                flag=draw(st.booleans()))


def call(scene, dtype=torch.float32):
    return fuse(torch.tensor(scene["logits"], dtype=dtype), torch.tensor(scene["boxes"], dtype=torch.float32),
                torch.tensor(scene["scores"]), torch.tensor(scene["labels"], dtype=torch.int64),
                thing_mask=torch.tensor(scene["thing"]), policy=scene["policy"],
                center_offsets=torch.tensor(scene["offsets"], dtype=dtype), stuff_area_threshold=scene["threshold"],
                unknown_undetected_things=scene["flag"])


def reference(scene):
    """The documented rule, pixel by pixel: owner code 0 / ('stuff', c) / ('det', n), then ids."""
    logits, thing, boxes, scores, labels = (scene[k] for k in ("logits", "thing", "boxes", "scores", "labels"))
    num_classes, height, width = logits.shape
    clipped = boxes.copy()
    clipped[:, 0::2] = clipped[:, 0::2].clip(0, width)
    clipped[:, 1::2] = clipped[:, 1::2].clip(0, height)
    areas = (clipped[:, 2] - clipped[:, 0]).clip(0) * (clipped[:, 3] - clipped[:, 1]).clip(0)
    centers = (clipped[:, :2] + clipped[:, 2:]) / 2
    stuff = [c for c in range(num_classes) if not thing[c]]
    owner = np.empty((height, width), dtype=object)
    for i in range(height):
        for j in range(width):
            px, py = j + 0.5, i + 0.5
            inside = [n for n in range(len(boxes))
                      if boxes[n, 0] <= px < boxes[n, 2] and boxes[n, 1] <= py < boxes[n, 3]]

            def key(n, i=i, j=j, px=px, py=py):  # lower is better: logit, then the policy, score, index
                v = -logits[labels[n], i, j]
                if scene["policy"] == "highest_confidence":
                    return (v, -scores[n], n)
                if scene["policy"] == "smallest_first":
                    return (v, areas[n], -scores[n], n)
                ox, oy = scene["offsets"][:, i, j]
                return (v, (px + ox - centers[n, 0]) ** 2 + (py + oy - centers[n, 1]) ** 2, -scores[n], n)

            best_stuff = max(stuff, key=lambda c: (logits[c, i, j], -c)) if stuff else None
            det = min(inside, key=key) if inside else None
            if det is not None and (best_stuff is None or logits[labels[det], i, j] > logits[best_stuff, i, j]):
                owner[i, j] = ("det", det)
                continue
            thing_pixel = any(thing) and (best_stuff is None or max(logits[c, i, j] for c in range(num_classes)
                                                                    if thing[c]) > logits[best_stuff, i, j])
            if best_stuff is None or (scene["flag"] and thing_pixel):
                owner[i, j] = 0
            else:
                owner[i, j] = ("stuff", best_stuff)
    codes = sorted({o for o in owner.flat if o != 0}, key=lambda o: (o[0] == "det", o[1]))
    codes = [o for o in codes if o[0] == "det" or sum(x == o for x in owner.flat) >= scene["threshold"]]
    ids = {o: k + 1 for k, o in enumerate(codes)}
    panoptic = np.array([[ids.get(o, 0) for o in row] for row in owner], dtype=np.int32).reshape(height, width)
    return panoptic, [(o[1] if o[0] == "stuff" else int(labels[o[1]]), o[0] == "det") for o in codes]


@SETTINGS
@given(scenes())
def test_matches_the_per_pixel_reference(scene):
    result = call(scene)
    panoptic, segments = reference(scene)
    assert np.array_equal(result.panoptic.numpy(), panoptic)
    assert [(s["category_id"], s["isthing"]) for s in result.segments] == segments


@SETTINGS
@given(scenes())
def test_segments_describe_the_map(scene):
    result = call(scene)
    pan = result.panoptic
    assert pan.dtype == torch.int32 and pan.shape == scene["logits"].shape[1:]
    ids = [s["id"] for s in result.segments]
    assert ids == list(range(1, len(ids) + 1))                         # unique, consecutive
    assert set(torch.unique(pan).tolist()) <= set(ids) | {0}            # every pixel in at most one segment
    assert sum(s["area"] for s in result.segments) + int((pan == 0).sum()) == pan.numel()
    for seg in result.segments:
        mask = pan == seg["id"]
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert seg["area"] == int(mask.sum()) > 0
        assert seg["bbox"] == [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
        assert seg["isthing"] == bool(scene["thing"][seg["category_id"]])
        if not seg["isthing"]:
            assert seg["area"] >= scene["threshold"] and seg["score"] == 1.0
        else:
            assert seg["score"] in scene["scores"].tolist()
    stuff_ids = [s["category_id"] for s in result.segments if not s["isthing"]]
    assert len(stuff_ids) == len(set(stuff_ids))                         # one segment per stuff class


@SETTINGS
@given(scenes())
def test_repeatable_and_float16_equals_float32(scene):
    first, again, half = call(scene), call(scene), call(scene, torch.float16)
    for other in (again, half):
        assert torch.equal(first.panoptic, other.panoptic)
        assert first.segments == other.segments


@SETTINGS
@given(scenes())
def test_the_flag_only_turns_stuff_pixels_unknown(scene):
    off, on = call(dict(scene, flag=False, threshold=0)), call(dict(scene, flag=True, threshold=0))
    cat_off, cat_on = off.category_map(), on.category_map()
    changed = cat_off != cat_on
    assert (cat_on[changed] == -1).all()
    thing = torch.tensor(scene["thing"])
    assert not thing[cat_off[changed]].any()
