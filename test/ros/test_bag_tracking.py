"""Issue 9 in the bag tools: `bag make-sample --sequence` (a synthetic video with track ids in its ground truth)
and `bag eval --gt` reporting STQ and ID switches next to PQ, with tracking on by default and --no-tracking.

The model is the test oracle (bag_oracle_model.py): it returns each frame's ground-truth masks, numbered afresh
in every frame (1..K in segments_info order), like a detector without tracking. So segmentation is perfect
(SQ = 1) and only the ids decide AQ: the tracker must turn the per-frame numbering into ids that stay with the
object (STQ 1, no ID switch), while without tracking the renumbering switches ids as objects enter and leave."""
import json
from pathlib import Path

import numpy as np
import pytest

from panoptic_ros.cli.main import main
from panoptic_ros.ros.bag.reader import ImageBagReader

HERE = Path(__file__).resolve().parent
W, H, N = 160, 120, 20


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    out = tmp_path_factory.mktemp("seq")
    assert main(["bag", "make-sample", "--sequence", "--out", str(out), "--frames", str(N), "--width", str(W),
                 "--height", str(H), "--seed", "10", "--fps", "10"]) == 0
    return out


@pytest.fixture
def oracle(monkeypatch):
    import importlib.util

    import panoptic_ros.pipeline as pipeline

    spec = importlib.util.spec_from_file_location("bag_oracle_model", HERE / "bag_oracle_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(pipeline, "build_pipeline", lambda source=None, **kwargs: mod.load(source))


def test_make_sample_sequence_has_track_ids_and_stamps(sequence):
    meta = json.loads((sequence / "gt" / "panoptic.json").read_text())
    images = sorted(meta["images"], key=lambda im: im["id"])
    assert meta["info"]["sequence"] is True and len({im["video_id"] for im in images}) == 1
    assert [im["frame_index"] for im in images] == list(range(N))
    with ImageBagReader(sequence / "sample_bag") as bag:
        stamps = [f.stamp_ns for f in bag.frames()]
    assert stamps == [im["stamp_ns"] for im in images]
    assert np.allclose(np.diff(stamps), 1e8)                      # 10 Hz
    tracks = [{s["track_id"] for s in a["segments_info"]} for a in meta["annotations"]]
    assert all(s["track_id"] == s["id"] for a in meta["annotations"] for s in a["segments_info"])
    assert len(set.intersection(*tracks[:2])) >= 3                   # objects persist from frame to frame
    assert len(set.union(*tracks)) > len(tracks[0])                   # and others enter (seed 10: 4 of them)


def _eval(sequence, out: Path, *extra) -> dict:
    assert main(["bag", "eval", "--bag", str(sequence / "sample_bag"), "--gt", str(sequence / "gt"), "--out",
                 str(out), "--model", str(sequence / "gt"), "--no-overlay", *extra]) == 0
    return json.loads((out / "report.json").read_text())


def test_bag_eval_reports_stq_with_and_without_tracking(sequence, tmp_path, oracle):
    tracked = _eval(sequence, tmp_path / "tracked")
    assert tracked["tracking"] is True and tracked["tracker_ms"]["count"] == N - 1
    assert tracked["pq"]["All"]["pq"] == pytest.approx(1.0, abs=1e-12)
    stq = tracked["stq"]
    assert stq["frames"] == N and stq["sq"] == pytest.approx(1.0)
    assert stq["id_switches"] == 0 and stq["stq"] == pytest.approx(1.0, abs=1e-9)
    assert stq["identity"]["idf1"] == pytest.approx(1.0) and stq["identity"]["hota"] == pytest.approx(1.0)

    plain = _eval(sequence, tmp_path / "plain", "--no-tracking")
    assert plain["tracking"] is False and plain["tracker_ms"]["count"] == 0
    assert plain["pq"]["All"]["pq"] == pytest.approx(1.0, abs=1e-12)   # PQ does not see ids across frames
    assert plain["stq"]["id_switches"] > 0 and plain["stq"]["stq"] < stq["stq"] - 0.05


def test_tracked_ids_in_the_output_bag_stay_with_the_object(sequence, tmp_path, oracle):
    """The output bag carries the stable ids: a ground-truth object has one id in every frame it is in."""
    from rosbags.rosbag2 import Reader

    from panoptic_ros.data import read_panoptic_png
    from panoptic_ros.ros.bag.writer import panoptic_typestore
    from panoptic_ros.tracking import THING_ID_BASE

    report = _eval(sequence, tmp_path / "tracked")
    store = panoptic_typestore()
    with Reader(report["output_bag"]) as r:
        conns = [c for c in r.connections if c.topic == "/panoptic_node/panoptic"]
        maps = [np.frombuffer(store.deserialize_cdr(raw, c.msgtype).data, np.int32).reshape(H, W)
                for c, _, raw in r.messages(connections=conns)]
    meta = json.loads((sequence / "gt" / "panoptic.json").read_text())
    anns = sorted(meta["annotations"], key=lambda a: a["image_id"])
    ids_of: dict[int, set] = {}
    for pred, ann in zip(maps, anns, strict=True):
        gt = read_panoptic_png(sequence / "gt" / "panoptic" / ann["file_name"])
        for seg in ann["segments_info"]:
            if seg["id"] % 1000 and not seg.get("iscrowd"):           # things (the synth's id layout)
                values = np.unique(pred[gt == seg["id"]])
                assert len(values) == 1 and values[0] > THING_ID_BASE
                ids_of.setdefault(seg["track_id"], set()).add(int(values[0]))
    assert len(ids_of) >= 5 and all(len(v) == 1 for v in ids_of.values())
    assert len({next(iter(v)) for v in ids_of.values()}) == len(ids_of)   # no two objects share an id
