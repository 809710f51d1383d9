"""`panoptic bench tracking`: cost next to the pipeline, quality on a held-out video and the trackers side by side
on the same network outputs, written as JSON + plot."""
import json

import pytest

from panoptic_ros.bench import tracking_compare
from panoptic_ros.bench.tracking import ground_truth_result
from panoptic_ros.cli.main import main
from panoptic_ros.config import InferenceConfig
from panoptic_ros.data.synth import CATEGORIES, ReidOptions, render_sequence
from panoptic_ros.tracking import THING_ID_BASE, TRACK_STAGES


def test_bench_tracking_writes_cost_and_quality(tmp_path):
    assert main(["bench", "tracking", "--runtime", "torch", "--size", "160x120", "--objects", "6", "--frames", "4",
                 "--warmup", "1", "--quality-frames", "4", "--drop", "2", "--compare-frames", "8",
                 "--compare-seeds", "5,6", "--reid-margins", "0.5,0.15,0.9", "--out", str(tmp_path)]) == 0
    m = json.loads((tmp_path / "tracking.json").read_text())
    assert m["size"] == "160x120" and m["runtime"] == "torch" and m["objects_in_view_mean"] >= 6
    assert m["pipeline_ms"]["p50"] > 0 and m["tracker_ms_ground_truth"]["p50"] > 0
    assert m["share_ground_truth"] == m["tracker_ms_ground_truth"]["p50"] / m["pipeline_ms"]["p50"]
    stages = m["tracker_stages_ms_ground_truth"]       # where the tracker's time goes, every stage run
    assert tuple(stages) == TRACK_STAGES and all(v > 0 for v in stages.values()), stages
    # on perfect segments every object keeps its id from frame to frame (a tracker renumbering every frame fails)
    keep = m["ground_truth_id_keep"]
    assert keep["pairs"] >= 15 and keep["fraction"] == 1.0, keep
    q = m["quality"]
    assert q["frames"] == 4 and 0 <= q["stq"] <= 1 and 0 <= q["stq_without_tracking"] <= 1
    assert q["id_keep"]["pairs"] >= 0 and "id_switches_per_100" in q
    assert m["quality_dropped_frames"]["frames"] == 2   # frames 0 and 2
    c = m["comparison"]
    rows = {r["tracker"]: r for r in c["rows"]}
    assert c["frames"] == 16 and {"panoptic_ros (re-id)", "panoptic_ros (no re-id)", "no tracking"} <= set(rows)
    for r in rows.values():
        assert 0 <= r["stq"] <= 1 and 0 <= r["idf1"] <= 1 and 0 <= r["hota"] <= 1 and r["ms_per_frame"] >= 0
    assert (tmp_path / "tracking.png").stat().st_size > 0 and "| tracker | STQ |" in c["table"]
    # the re-identification tracker again at each other margin (the configured one is not run twice), and only
    # those rows carry their margin (the plot's trade-off panel)
    default = InferenceConfig().track_reid_margin
    margins = {r["tracker"]: r.get("reid_margin") for r in c["rows"]}
    assert margins["panoptic_ros (re-id)"] == default
    assert {name: m for name, m in margins.items() if m is not None and name != "panoptic_ros (re-id)"} == {
        f"panoptic_ros (re-id, margin {m:g})": m for m in (0.5, 0.15, 0.9) if m != default}
    assert margins["panoptic_ros (no re-id)"] is None and margins["no tracking"] is None
    if tracking_compare.boxmot_adapters(fps=10.0)[0]:     # (requirements-reference.txt installed)
        assert c["boxmot"] == "used" and sum(name.startswith(("ByteTrack", "OC-SORT")) for name in rows) == 2
    # the re-identification tracker on the ground truth of the same frames: segmentation quality is perfect there
    # (fed the network's segments instead, SQ drops below 1), and its row ends the printed table, not the plot
    perfect = c["perfect_segments"]
    assert perfect["tracker"] == "panoptic_ros (re-id), perfect segments" and perfect["sq"] == pytest.approx(1.0)
    assert c["table"].splitlines()[-1].startswith("| panoptic_ros (re-id), perfect segments |")
    assert set(c["reid_by_video_kind"]) == {"network", "perfect_segments"}
    assert c["reid_by_video_kind"]["network"]["distinct"]["videos"] == ["seed5"]


def test_returns_by_video_kind_partition_the_returns():
    """The per-kind split of `bench tracking` (distinct objects / look-alikes) counts every return once, in the kind
    of its video."""
    frames, kinds = [], {}
    for seed, lookalike in ((3, False), (4, True)):
        video = f"v{seed}"
        kinds[video] = "look-alike" if lookalike else "distinct"
        frames += _gt_frames(seed, 45, video, objects=None, pan=6.0,
                             reid=ReidOptions(pan_back=1.5, reenter=3, occluders=1, lookalike=lookalike))
    adapter = tracking_compare.PanopticAdapter("re-id", InferenceConfig(), CATEGORIES)
    whole = tracking_compare.evaluate(adapter, frames, CATEGORIES)
    split = tracking_compare.by_video_kind(whole, kinds)          # (from the whole run's per-video counts)
    assert {k: v["videos"] for k, v in split.items()} == {"distinct": ["v3"], "look-alike": ["v4"]}
    for kind, video in (("distinct", "v3"), ("look-alike", "v4")):   # each kind: exactly what its video gives alone
        alone = tracking_compare.evaluate(adapter, [f for f in frames if f.video == video], CATEGORIES)
        assert split[kind]["returns"] == alone["reid"]["returns"] > 0
        assert split[kind]["reidentified"] == alone["reid"]["reidentified"]
        assert split[kind]["wrong_merges_at_return"] == alone["wrong_merges"]["at_return"]
        assert split[kind]["idf1"] == pytest.approx(alone["idf1"]) and alone["idf1"] > 0
    assert sum(v["returns"] for v in split.values()) == whole["reid"]["returns"]
    events = whole["return_events"]            # and each return on its own, in its video, kept or not
    assert len(events) == whole["reid"]["returns"] and sum(e["kept"] for e in events) == whole["reid"]["reidentified"]
    assert {e["video"] for e in events} == {"v3", "v4"}
    assert sum(v["wrong_merges_at_return"] for v in split.values()) == whole["wrong_merges"]["at_return"]
    line = tracking_compare.format_by_kind({"network": split})
    assert line == (f"re-id returns on network: distinct {split['distinct']['reidentified']}/"
                    f"{split['distinct']['returns']} kept, {split['distinct']['wrong_merges_at_return']} wrong merges; "
                    f"look-alike {split['look-alike']['reidentified']}/{split['look-alike']['returns']} kept, "
                    f"{split['look-alike']['wrong_merges_at_return']} wrong merges")


def _gt_frames(seed: int, frames: int, video: str = "v", **options) -> list:
    """A small synthetic video as tracking_compare.Frames whose 'network result' is the ground truth, renumbered
    1..K in a random order every frame (what a per-frame segmentation gives). options: render_sequence's
    (default: 6 objects, pan 2)."""
    out = []
    for f in render_sequence(seed, frames, 160, 120, **{"objects": 6, "pan": 2.0, **options}):
        result = ground_truth_result(f, CATEGORIES, seed=f.index)
        out.append(tracking_compare.Frame(video, f.stamp, f.image, result, f.id_map, f.segments))
    return out


@pytest.mark.parametrize("which", [0, 1])      # ByteTrack, OC-SORT
def test_boxmot_trackers_keep_ids_and_map_them_back_onto_the_segments(which):
    """BoxMOT's trackers (requirements-reference.txt) on the segments' boxes: each thing segment's pixels carry the
    id its box's track got (THING_ID_BASE + track id; a fresh id, above FRESH_ID_BASE and never repeated, without
    a track), stuff keeps its id, and an object seen in consecutive frames keeps its id."""
    adapters, missing = tracking_compare.boxmot_adapters(fps=10.0)
    if not adapters:
        pytest.skip(missing)
    adapter = adapters[which]
    adapter.reset()
    frames = _gt_frames(3, 20)
    kept = pairs = 0
    previous, fresh = {}, []
    for f in frames:
        out = adapter.update(f)
        pan, src = out.panoptic.numpy(), f.result.panoptic.numpy()
        assert pan.shape == src.shape
        for before, seg in zip(f.result.segments, out.segments, strict=True):
            inside = src == before["id"]
            assert (pan[inside] == seg["id"]).all()          # the segment's pixels, and only its, carry its id
            if not seg["isthing"]:
                assert seg["id"] == before["id"]
            elif seg["id"] > tracking_compare.FRESH_ID_BASE:
                fresh.append(seg["id"])
            else:
                assert seg["id"] >= THING_ID_BASE            # (BoxMOT counts tracks from 0)
        now = {}
        for s in f.gt_segments:                               # ground-truth object -> the id it got now
            if s["id"] % 1000:
                inside = f.gt_pan == s["id"]
                now[s["id"]] = int(pan[inside][0])
        pairs += sum(1 for g in now if g in previous and previous[g] < tracking_compare.FRESH_ID_BASE)
        kept += sum(1 for g, i in now.items() if previous.get(g) == i and i < tracking_compare.FRESH_ID_BASE)
        previous = now
    assert len(fresh) == len(set(fresh))
    assert pairs >= 20 and kept / pairs >= 0.9, (kept, pairs)   # ids renumbered every frame would keep ~1 / K


@pytest.mark.parametrize("text, message", [("0.1,x", "comma-separated numbers"), ("0.2,1.5", "in 0..1")])
def test_bad_reid_margins_are_one_line_errors(text, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "tracking", "--reid-margins", text, "--frames", "0"])   # (a run would stop at once)
    assert exc.value.code == 2
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert "--reid-margins" in line and message in line


def test_trade_off_panel_plots_the_margin_rows_in_margin_order():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def row(margin, kept, merges, returns=20):
        r = {"reid": {"returns": returns, "reidentified": kept, "rate": kept / returns if returns else float("nan")},
             "wrong_merges": {"at_return": merges}}
        return r if margin is None else {**r, "reid_margin": margin}

    fig, ax = plt.subplots()
    tracking_compare.trade_off(ax, [row(0.4, 10, 0), row(None, 0, 3), row(0.15, 16, 2), row(0.25, 6, 1, returns=10),
                                    row(0.3, 0, 0, returns=0)])
    (line,) = ax.lines[:1]
    assert line.get_xdata().tolist() == [10.0, 10.0, 0.0] and line.get_ydata().tolist() == [80.0, 60.0, 50.0]
    assert [t.get_text() for t in ax.texts] == ["margin 0.15", "margin 0.25", "margin 0.4"]
    plt.close(fig)


def test_frames_given_a_result_maker_replay_like_frames_holding_the_result():
    """`bench tracking` gives the perfect-segment frames a callable instead of a full-resolution map each (hundreds
    of maps held at once otherwise): each replay makes every frame's result once, and the metrics are the same."""
    frames, calls = [], []
    for f in render_sequence(3, 30, 160, 120, pan=6.0, reid=ReidOptions(pan_back=1.0, reenter=2)):
        def make(f=f):
            calls.append(f.index)
            return ground_truth_result(f, CATEGORIES, seed=f.index)
        frames.append(tracking_compare.Frame("v", f.stamp, f.image, make, f.id_map, f.segments))
    eager = [f.resolved() for f in frames]
    assert calls == list(range(30)) and not any(callable(f.result) for f in eager)
    adapter = tracking_compare.PanopticAdapter("re-id", InferenceConfig(), CATEGORIES)
    calls.clear()
    lazy_row = tracking_compare.evaluate(adapter, frames, CATEGORIES)
    assert calls == list(range(30))
    eager_row = tracking_compare.evaluate(adapter, eager, CATEGORIES)
    for key in ("stq", "aq", "idf1", "hota", "id_switches", "reid", "wrong_merges"):
        assert lazy_row[key] == eager_row[key], key
    assert eager_row["id_switches"] >= 0 and 0 < eager_row["stq"] <= 1
