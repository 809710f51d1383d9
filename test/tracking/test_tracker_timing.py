"""Where a tracker update's time goes (PanopticTracker.last_stages_s, TRACK_STAGES): every stage reported, the
stages not run at 0, and the stages of one update adding up to at most its wall time."""
import numpy as np
import pytest
from test_tracker import result_of

from panoptic_ros.config import InferenceConfig
from panoptic_ros.data.synth import CATEGORIES, render_sequence
from panoptic_ros.tracking import TRACK_STAGES, PanopticTracker


@pytest.fixture(scope="module")
def frames():
    return list(render_sequence(3, 3, 160, 120, fps=10, pan=6.0, objects=6))


def channel_of(sid):
    return CATEGORIES.index(sid // 1000)


def test_every_stage_runs_on_a_frame_with_things_and_an_image(frames):
    tracker = PanopticTracker(InferenceConfig(), CATEGORIES)
    for f in frames:
        tracker.update(result_of(f.id_map, channel_of, seed=f.index), f.stamp, image=f.image)
        stages = tracker.last_stages_s
        assert tuple(stages) == TRACK_STAGES
        assert all(v > 0 for v in stages.values()), stages
        # one update's stages only (a timer carried over from the last update would add up to more)
        assert sum(stages.values()) <= tracker.last_update_s


def test_stages_not_run_are_zero(frames):
    f = frames[0]
    tracker = PanopticTracker(InferenceConfig(), CATEGORIES)
    tracker.update(result_of(f.id_map, channel_of), f.stamp)             # no image: no appearance, no camera
    stages = tracker.last_stages_s
    assert stages["appearance"] == 0 and stages["camera"] == 0
    assert stages["match"] > 0 and stages["state"] > 0 and stages["remap"] > 0
    road = np.where(f.id_map % 1000 == 0, f.id_map, 0)                   # stuff only: no thing to match
    tracker.update(result_of(road, channel_of), f.stamp + 0.1, image=f.image)
    stages = tracker.last_stages_s
    assert stages["match"] == stages["appearance"] == stages["camera"] == stages["reidentify"] == 0, stages
    assert stages["state"] > 0 and stages["remap"] > 0
    assert sum(stages.values()) <= tracker.last_update_s
