"""Re-identification's decision rule (reid.match) case by case, with hand-computed costs, and its descriptors.

The tracker-level tests show the behaviour on videos; these pin each gate at its threshold, each term of the
cost, each reason for doubt and each optional input, found missing by a mutation run (docs/mutation.md).

Unless a test says otherwise: objects of size 100 lost 0 s, so the position gate's radius is 100 px and
``position = distance / 100``; similarity threshold 0.5, so a pair's cost is
``0.4 * (1 - sim) / 0.5 + 0.5 * position + 0.1 * (1 - size ratio)`` (no size term for a box cut by the border).
"""
import numpy as np
import pytest

from panoptic_ros.tracking import reid

SETTINGS = {"similarity": 0.5, "distance": 1.0, "margin": 0.002, "depth": 0.0, "min_size": 0.0, "min_speed": 0.0}
BASE = np.zeros(reid.NUM_BINS, np.float32)
BASE[0] = 1.0
NAN2 = (np.nan, np.nan)


def hist(sim: float) -> np.ndarray:
    """A histogram whose Bhattacharyya coefficient with BASE is ``sim`` (BASE itself for 1)."""
    h = np.zeros(reid.NUM_BINS, np.float32)
    h[0], h[1] = sim ** 2, 1 - sim ** 2
    return h


def segs(*items: dict) -> dict:
    """Queries: each {"at": (x, y)} plus optional class, size, sim (its histogram against BASE), border, depth,
    velocity."""
    return {"category": np.array([s.get("cls", 1) for s in items]),
            "center": np.array([s["at"] for s in items], float),
            "size": np.array([s.get("size", 100.0) for s in items]),
            "hist": np.stack([hist(s.get("sim", 1.0)) for s in items]),
            "border": np.array([s.get("border", False) for s in items]),
            "depth": np.array([s.get("depth", np.nan) for s in items], float),
            "velocity": np.array([s.get("velocity", NAN2) for s in items], float)}


def lost(*items: dict, origin: bool = True, velocity: bool = True) -> dict:
    """Candidates (lost tracks): each {"at": predicted centre} plus optional class, size, sim, border, depth,
    velocity, lost (seconds); the path starts where it ends unless "from" is given."""
    out = {"category": np.array([c.get("cls", 1) for c in items]),
           "center": np.array([c["at"] for c in items], float),
           "size": np.array([c.get("size", 100.0) for c in items]),
           "hist": [hist(c.get("sim", 1.0)) for c in items],
           "border": np.array([c.get("border", False) for c in items]),
           "depth": np.array([c.get("depth", np.nan) for c in items], float),
           "lost": np.array([c.get("lost", 0.0) for c in items], float)}
    if origin:
        out["origin"] = np.array([c.get("from", c["at"]) for c in items], float)
    if velocity:
        out["velocity"] = np.array([c.get("velocity", NAN2) for c in items], float)
    return out


def match(queries, candidates, **settings):
    return reid.match(queries, candidates, {**SETTINGS, **settings})


Q = segs({"at": (500, 500)})


# ------------------------------------------------------------------------------------------------ the gates
def test_each_gate_passes_exactly_at_its_threshold_and_not_beyond():
    assert match(Q, lost({"at": (600, 500)})) == {0: 0}                       # distance = radius
    assert match(Q, lost({"at": (600.5, 500)})) == {}
    assert match(Q, lost({"at": (500, 500), "sim": 0.5})) == {0: 0}           # similarity = threshold
    assert match(Q, lost({"at": (500, 500), "sim": 0.49})) == {}
    assert match(Q, lost({"at": (500, 500), "size": 300.0})) == {0: 0}       # size ratio = 1 / MAX_SIZE_RATIO
    assert match(Q, lost({"at": (500, 500), "size": 334.0})) == {}
    assert match(Q, lost({"at": (500, 500), "size": 200.0})) == {0: 0}


def test_a_box_cut_by_the_border_on_either_side_skips_the_size_gate():
    small = {"at": (500, 500), "size": 25.0}
    assert match(Q, lost(small)) == {}
    assert match(Q, lost({**small, "border": True})) == {0: 0}
    assert match(segs({"at": (500, 500), "border": True}), lost(small)) == {0: 0}


def test_the_class_must_agree_with_or_without_the_depth_gate():
    other = segs({"at": (500, 500), "cls": 2, "depth": 2.0})
    assert match(other, lost({"at": (500, 500), "depth": 2.0})) == {}
    assert match(other, lost({"at": (500, 500), "depth": 2.0}), depth=0.2) == {}
    assert match(segs({"at": (500, 500), "depth": 2.0}), lost({"at": (500, 500), "depth": 2.0}), depth=0.2) == {0: 0}


def test_depth_gate_relative_to_the_lost_objects_depth_and_only_when_both_are_known():
    track = lost({"at": (500, 500), "depth": 2.0})
    assert match(segs({"at": (500, 500), "depth": 2.5}), track, depth=0.25) == {0: 0}    # |2.5 - 2| = 0.25 x 2
    assert match(segs({"at": (500, 500), "depth": 2.6}), track, depth=0.25) == {}
    assert match(segs({"at": (500, 500)}), track, depth=0.25) == {0: 0}                  # query depth unknown
    assert match(segs({"at": (500, 500), "depth": 9.0}), track, depth=0.0) == {0: 0}     # gate off


def test_the_position_gate_assumes_min_size_objects_and_settings_may_omit_the_optional_keys():
    small = segs({"at": (540, 500), "size": 10.0})
    track = lost({"at": (500, 500), "size": 10.0})
    basic = {k: SETTINGS[k] for k in ("similarity", "distance", "margin", "depth")}
    assert reid.match(small, track, basic) == {}                                         # radius 10 px
    assert reid.match(small, track, {**basic, "min_size": 50.0}) == {0: 0}               # radius 50 px


def test_without_an_origin_the_path_is_the_predicted_centre():
    track = lost({"at": (500, 500)}, origin=False)
    assert match(segs({"at": (580, 500)}), track) == {0: 0}
    assert match(segs({"at": (650, 500)}), track) == {}


def test_every_query_is_compared_not_only_the_first():
    assert match(segs({"at": (100, 100)}, {"at": (500, 500)}), lost({"at": (500, 500)})) == {1: 0}


# ------------------------------------------------------------------------------------------------ direction
FAST, AGAINST = (10.0, 0.0), (-10.0, 0.0)


@pytest.mark.parametrize("q_velocity, c_velocity, min_speed, expected", [
    (FAST, AGAINST, 0.5, {}),                  # both faster than min_speed, opposite: ruled out
    (FAST, AGAINST, 0.0, {0: 0}),              # min_speed 0: the gate is off
    ((3.0, 4.0), AGAINST, 5.0, {0: 0}),        # the segment exactly at min_speed: not moving
    (FAST, (-3.0, -4.0), 5.0, {0: 0}),         # the lost object exactly at min_speed: not moving
    (FAST, (0.0, 10.0), 0.5, {0: 0}),          # perpendicular: not opposite
    (FAST, (0.05, 10.0), 0.5, {0: 0}),         # slightly the same way
])
def test_opposite_directions_rule_a_pair_out_only_when_both_move(q_velocity, c_velocity, min_speed, expected):
    assert match(segs({"at": (500, 500), "velocity": q_velocity}), lost({"at": (500, 500), "velocity": c_velocity}),
                 min_speed=min_speed) == expected


def test_velocities_and_min_speed_are_optional():
    q = segs({"at": (500, 500), "velocity": FAST})
    track = lost({"at": (500, 500), "velocity": AGAINST})
    basic = {k: SETTINGS[k] for k in ("similarity", "distance", "margin", "depth")}
    assert reid.match(q, track, basic) == {0: 0}                                         # no min_speed: no gate
    assert match(q, lost({"at": (500, 500)}, velocity=False), min_speed=0.5) == {0: 0}
    no_velocity = {k: v for k, v in q.items() if k != "velocity"}
    assert match(no_velocity, track, min_speed=0.5) == {0: 0}


# ------------------------------------------------------------------------------------------------ the cost
def test_appearance_outweighs_position_by_the_documented_weights():
    # A: sim 1, 0.55 radii: 0 + 0.275 = 0.275; B: sim 0.6, on the spot: 0.4 * 0.4 / 0.5 = 0.32 -> A
    assert match(Q, lost({"at": (555, 500), "sim": 1.0}, {"at": (500, 500), "sim": 0.6})) == {0: 0}


def test_position_outweighs_appearance_by_the_documented_weights():
    # A: sim 1, 0.7 radii: 0.35; B: sim 0.6, on the spot: 0.32 -> B (A is more than half a radius farther:
    # not a look-alike of B, and 0.35 is beyond B's cost + margin)
    assert match(Q, lost({"at": (570, 500), "sim": 1.0}, {"at": (500, 500), "sim": 0.6})) == {0: 1}


@pytest.mark.parametrize("distance, expected", [(56, {0: 1}), (60, {0: 0})])
def test_the_size_term_decides_between_otherwise_balanced_candidates(distance, expected):
    # C: sim 0.7 on the spot, size 200 (ratio 0.5): 0.24 + 0.05 = 0.29; R: sim 1, size 100, distance px: 0.5 d / 100
    # (0.28 at 56 px: R; 0.30 at 60 px: C)
    candidates = lost({"at": (500, 500), "sim": 0.7, "size": 200.0}, {"at": (500 + distance, 500), "sim": 1.0})
    assert match(Q, candidates) == expected


@pytest.mark.parametrize("distance, expected", [(52, {0: 0}), (46, {0: 1})])
def test_a_cut_box_pays_no_size_cost(distance, expected):
    # C cut (at the border): 0.24, no size term (0.29 with it); R, uncut and of the same size: 0.5 d / 100, no size
    # cost either (0.26 at 52 px: C; 0.23 at 46 px: R)
    candidates = lost({"at": (500, 500), "sim": 0.7, "size": 200.0, "border": True},
                      {"at": (500 + distance, 500), "sim": 1.0})
    assert match(Q, candidates) == expected


# ------------------------------------------------------------------------------------------------ doubt
def test_a_rival_candidate_within_the_margin_refuses_the_pair():
    # A: cost 0; B (sim 0.8, not a look-alike): 0.4 * 0.2 / 0.5 = 0.16
    candidates = lost({"at": (500, 500)}, {"at": (500, 500), "sim": 0.8})
    assert match(Q, candidates, margin=0.2) == {}
    assert match(Q, candidates, margin=0.1) == {0: 0}


def test_a_rival_segment_within_the_margin_refuses_the_pair():
    queries = segs({"at": (500, 500)}, {"at": (500, 500), "sim": 0.8})
    assert match(queries, lost({"at": (500, 500)}), margin=0.2) == {}
    assert match(queries, lost({"at": (500, 500)}), margin=0.1) == {0: 0}


def test_a_rival_a_little_below_the_similarity_threshold_still_counts():
    # chosen: sim 0.6 -> 0.32; rival sim 0.45 (within LOOSE_SIMILARITY below 0.5) -> 0.44 < 0.32 + 0.15
    assert match(Q, lost({"at": (500, 500), "sim": 0.6}, {"at": (500, 500), "sim": 0.45}), margin=0.15) == {}
    assert match(Q, lost({"at": (500, 500), "sim": 0.6}, {"at": (500, 500), "sim": 0.35}), margin=0.15) == {0: 0}


def test_a_rival_up_to_loose_radii_away_still_counts():
    # chosen at 1 radius: 0.5; rival at exactly LOOSE = 2 radii: 1.0 < 0.5 + 0.6; at 201 px it is out of reach
    assert match(Q, lost({"at": (600, 500)}, {"at": (300, 500)}), margin=0.6) == {}
    assert match(Q, lost({"at": (600, 500)}, {"at": (299, 500)}), margin=0.6) == {0: 0}


@pytest.mark.parametrize("depth", [0.0, 0.2])
def test_objects_of_another_class_are_no_rivals(depth):
    # the class-2 segment / lost track has a class-2 counterpart 1.5 radii away (loosely plausible, not a match),
    # so it takes part in the comparison; being of another class, it must neither match nor cast doubt
    queries = segs({"at": (500, 500), "depth": 2.0}, {"at": (500, 500), "cls": 2, "depth": 2.0})
    tracks = lost({"at": (500, 500), "depth": 2.0}, {"at": (650, 500), "cls": 2, "depth": 2.0})
    assert match(queries, tracks, margin=0.2, depth=depth) == {0: 0}
    queries = segs({"at": (500, 500), "depth": 2.0}, {"at": (650, 500), "cls": 2, "depth": 2.0})
    tracks = lost({"at": (500, 500), "depth": 2.0}, {"at": (500, 500), "cls": 2, "depth": 2.0})
    assert match(queries, tracks, margin=0.2, depth=depth) == {0: 0}


def test_a_rival_exactly_margin_worse_is_no_doubt():
    # rival: as similar, half a radius farther (no look-alike), cost exactly 0.25 = 0 + margin: not below the limit
    assert match(Q, lost({"at": (500, 500)}, {"at": (550, 500)}), margin=0.25) == {0: 0}
    assert match(Q, lost({"at": (500, 500)}, {"at": (550, 500)}), margin=0.26) == {}
    queries = segs({"at": (500, 500)}, {"at": (550, 500)})
    assert match(queries, lost({"at": (500, 500)}), margin=0.25) == {0: 0}
    assert match(queries, lost({"at": (500, 500)}), margin=0.26) == {}


def test_a_look_alike_exactly_half_a_radius_farther_is_told_apart_by_position():
    # equally similar, 0.5 radii farther: not a look-alike; its cost 0.25 is beyond 0 + margin
    assert match(Q, lost({"at": (500, 500)}, {"at": (550, 500)}), margin=0.1) == {0: 0}
    assert match(Q, lost({"at": (500, 500)}, {"at": (549, 500)}), margin=0.1) == {}
    queries = segs({"at": (500, 500)}, {"at": (550, 500)})
    assert match(queries, lost({"at": (500, 500)}), margin=0.1) == {0: 0}
    queries = segs({"at": (500, 500)}, {"at": (520, 500)})                  # a look-alike segment near it
    assert match(queries, lost({"at": (500, 500)}), margin=0.1) == {}


def test_a_refused_or_impossible_pair_does_not_stop_the_others():
    far = {"at": (100, 100)}
    # first pair impossible (only loosely plausible: sim 0.45), second fine
    queries = segs({"at": (100, 100)}, {"at": (500, 500)})
    assert match(queries, lost({**far, "sim": 0.45}, {"at": (500, 500)})) == {1: 1}
    # first pair refused by a look-alike, second fine
    assert match(queries, lost(far, {"at": (110, 100)}, {"at": (500, 500)})) == {1: 2}
    # first pair refused by a rival within the margin (not a look-alike), second fine
    assert match(queries, lost(far, {"at": (100, 100), "sim": 0.8}, {"at": (500, 500)}), margin=0.2) == {1: 2}


def test_a_different_course_counts_as_distance():
    # the segment moves (100, 0). A lost track there moving the same way: 0; at right angles: |(100, -100)| / 100,
    # clipped to 1, x MOTION_WEIGHT 0.45 radii -> cost 0.225; half as fast: 0.5 -> 0.1125; unknown: nothing
    q = segs({"at": (500, 500), "velocity": (100, 0)})
    moving = {**SETTINGS, "min_speed": 10.0}

    def cost(velocity, settings=moving):
        return reid.match_costs(q, lost({"at": (500, 500), "velocity": velocity}), settings)[0][1]
    assert cost((100, 0)) == pytest.approx(0.0)
    assert cost((0, 100)) == pytest.approx(0.225)
    assert cost((50, 0)) == pytest.approx(0.1125)
    assert cost(NAN2) == pytest.approx(0.0)
    assert cost((0, 100), SETTINGS) == pytest.approx(0.0)                 # no min_speed: motions not compared
    # slower than min_speed, differences count relative to it: (4, 0) against (0, 4): |(4, -4)| / 10
    slow = segs({"at": (500, 500), "velocity": (4, 0)})
    assert reid.match_costs(slow, lost({"at": (500, 500), "velocity": (0, 4)}), moving)[0][1] == \
        pytest.approx(0.5 * 0.45 * np.hypot(4, 4) / 10)
    # two look-alikes 0.1 radii apart: ambiguous on position alone; the other on another course is 0.55 radii away
    same = lost({"at": (500, 500), "velocity": (100, 0)}, {"at": (510, 500), "velocity": (100, 0)})
    other = lost({"at": (500, 500), "velocity": (100, 0)}, {"at": (510, 500), "velocity": (0, 100)})
    assert match(q, same, min_speed=10.0) == {}
    assert match(q, other, min_speed=10.0) == {0: 0}


# ------------------------------------------------------------------------------------------------ standby
def test_match_costs_gives_each_pairs_cost():
    # 0.5 radii away: 0.5 * 0.5; sim 0.8: 0.4 * 0.2 / 0.5
    assert reid.match_costs(Q, lost({"at": (550, 500)}), SETTINGS) == {0: (0, pytest.approx(0.25))}
    assert reid.match_costs(Q, lost({"at": (500, 500), "sim": 0.8}), SETTINGS) == {0: (0, pytest.approx(0.16))}


def test_a_standby_candidate_is_no_rival_of_the_others():
    twins = lost({"at": (500, 500)}, {"at": (500, 500)})
    assert match(Q, twins) == {}                                                   # look-alikes: ambiguous
    assert match(Q, {**twins, "standby": np.array([False, True])}) == {0: 0}
    assert match(Q, {**twins, "standby": np.array([True, False])}) == {0: 1}
    assert match(Q, {**twins, "standby": np.array([True, True])}) == {}            # ... but of one another
    assert match(Q, {**lost({"at": (500, 500)}), "standby": np.array([True])}) == {0: 0}


def test_a_standby_candidate_is_only_for_the_segments_no_other_candidate_takes():
    # segment 0 takes A (cost 0; segment 1 is 0.6 radii from A: no look-alike). Standby G is 0.2 radii from
    # segment 1 and 0.4 from segment 0: a look-alike rival, had segment 0 still been free
    queries = segs({"at": (500, 500)}, {"at": (560, 500)})
    tracks = {**lost({"at": (500, 500)}, {"at": (540, 500)}), "standby": np.array([False, True])}
    assert match(queries, tracks) == {0: 0, 1: 1}
    assert match(queries, {**tracks, "standby": np.array([True, True])}) == {}


# ------------------------------------------------------------------------------------------------ descriptors
def test_colour_histograms_are_the_smoothed_joint_rgb_histograms():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    g = rng.integers(0, 4, size=(12, 16)).astype(np.uint8)                  # segments 1..3, 0 = other
    out = reid.colour_histograms(image, g, 3)
    for k in (1, 2, 3):
        pixels = image[g == k] // 64
        joint, _ = np.histogramdd(pixels, bins=(4, 4, 4), range=((0, 4),) * 3)   # axes r, g, b: bin r*16 + g*4 + b
        expected = joint.ravel() @ reid.SMOOTH
        np.testing.assert_allclose(out[k - 1], expected / expected.sum(), rtol=1e-5, atol=1e-7)


def test_the_histogram_smoothing_spreads_each_bin_to_its_neighbours_by_a_gaussian():
    s = reid._smoothing()
    np.testing.assert_allclose(s.sum(1), 1.0, rtol=1e-6)
    one_level = np.exp(-1 / (2 * reid.SMOOTH_SIGMA ** 2))
    # bin 21 = levels (1, 1, 1) (r * 16 + g * 4 + b): weights exp(-d^2 / 2 sigma^2) by the squared level distance
    assert s[21, 22] / s[21, 21] == pytest.approx(one_level, rel=1e-5)
    assert s[21, 21 + 16] / s[21, 21] == pytest.approx(one_level, rel=1e-5)
    assert s[21, 21 + 16 + 4] / s[21, 21] == pytest.approx(one_level ** 2, rel=1e-5)
    assert s[21, 23] / s[21, 21] == pytest.approx(one_level ** 4, rel=1e-4)       # two levels on one axis
    assert s[21].argmax() == 21
    np.testing.assert_array_equal(s, reid.SMOOTH)


def test_segment_depths_average_the_valid_depths_of_each_segment():
    depth = np.array([[1.0, 2.0, np.nan, 0.0, -1.0, 0.5],
                      [np.inf, 4.0, 4.0, 7.0, 3.0, 3.0]])
    g = np.array([[1, 1, 1, 1, 1, 2],
                  [2, 3, 3, 0, 0, 0]], dtype=np.uint8)
    out = reid.segment_depths(depth, g, 5)
    np.testing.assert_allclose(out[:3], [1.5, 0.5, 4.0])        # NaN, inf, 0 and negative depths are not valid
    assert np.isnan(out[3:]).all()                               # segments without a valid pixel: unknown
    assert out.dtype == np.float64 and out.shape == (5,)


def test_path_distance_is_to_the_segment_from_where_it_was_seen_to_where_it_may_be():
    start = np.array([[0.0, 0.0], [0.0, 0.0]])
    end = np.array([[100.0, 0.0], [10.0, 0.0]])
    d = reid._path_distance(np.array([[50.0, 10.0], [-30.0, 40.0]]), start, end)
    np.testing.assert_allclose(d, [[10.0, np.hypot(40, 10)], [50.0, 50.0]])
