"""`panoptic bag make-sample` + `panoptic bag eval` end to end (in process, no ROS graph), mcap and sqlite3."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from panoptic_ros.cli.main import main
from panoptic_ros.ros.bag.reader import ImageBagReader
from panoptic_ros.ros.bag.writer import BagWriter, panoptic_typestore

W, H, N = 96, 64, 3
TOPIC = "/camera/image_raw"


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """Sample bags (mcap rgb8, sqlite3 jpeg) with GT, and a random-init smoke checkpoint for their classes."""
    from panoptic_ros.config import load_config
    from panoptic_ros.data.coco_panoptic import PanopticJson
    from panoptic_ros.modeling import build_model, save_checkpoint

    root = tmp_path_factory.mktemp("bag_eval")
    out = {}
    for storage, enc in (("mcap", "rgb8"), ("sqlite3", "jpeg")):
        d = root / storage
        assert main(["bag", "make-sample", "--out", str(d), "--frames", str(N), "--width", str(W), "--height",
                     str(H), "--storage", storage, "--encoding", enc, "--seed", "3"]) == 0
        out[storage] = d
    cfg = load_config(Path(__file__).resolve().parents[2] / "panoptic_ros" / "configs" / "smoke.yaml")
    cats = PanopticJson.load(out["mcap"] / "gt" / "panoptic.json").categories
    torch_model = build_model(cfg, cats)
    out["model"] = save_checkpoint(root / "tiny.safetensors", torch_model, cfg, cats)
    return out


def _read_bag(path):
    store = panoptic_typestore()
    from rosbags.rosbag2 import Reader
    msgs = {}
    with Reader(path) as r:
        types = {c.topic: c.msgtype for c in r.connections}
        for conn, t, raw in r.messages():
            msgs.setdefault(conn.topic, []).append((t, store.deserialize_cdr(raw, conn.msgtype)))
    return types, msgs


def test_make_sample_maps_frames_to_gt_by_stamp(samples):
    meta = json.loads((samples["mcap"] / "gt" / "panoptic.json").read_text())
    images = sorted(meta["images"], key=lambda im: im["id"])
    with ImageBagReader(samples["mcap"] / "sample_bag") as bag:
        frames = list(bag.frames())
    assert len(frames) == N == len(images)
    from panoptic_ros.data import read_image
    for frame, im in zip(frames, images):
        assert frame.stamp_ns == im["stamp_ns"] and frame.index == im["bag_index"]
        np.testing.assert_array_equal(frame.image, read_image(samples["mcap"] / "gt" / "images" / im["file_name"]))
    with ImageBagReader(samples["sqlite3"] / "sample_bag") as bag:
        assert bag.requested == [TOPIC + "/compressed"] and bag.storage == "sqlite3"
        assert len(list(bag.frames())) == N


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_eval_writes_bag_report_plot_and_pq(samples, storage, tmp_path):
    out = tmp_path / "eval"
    code = main(["bag", "eval", "--bag", str(samples[storage] / "sample_bag"), "--gt", str(samples[storage] / "gt"),
                 "--out", str(out), "--model", str(samples["model"]), "--save-overlays", "2"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] == N and report["skipped"]["total"] == 0 and report["fps"] > 0
    for key in ("p50", "p90", "p99", "max"):
        assert report["latency_ms"][key] >= report["model_ms"][key] * 0.999 > 0
    assert len(report["per_frame"]) == N
    pq = report["pq"]
    assert pq["mapping"] == "stamp" and pq["frames_with_gt"] == N
    assert 0.0 <= pq["All"]["pq"] <= 1.0 and set(pq["per_class"]) == {str(i) for i in range(1, 9)}
    assert (out / "latency.png").stat().st_size > 1000
    assert len(list((out / "overlays").glob("*.jpg"))) == 2

    types, msgs = _read_bag(report["output_bag"])
    ns = "/panoptic_node"
    assert types == {f"{ns}/panoptic": "sensor_msgs/msg/Image", f"{ns}/semantic": "sensor_msgs/msg/Image",
                     f"{ns}/instances": "panoptic_ros/msg/PanopticInstanceArray",
                     f"{ns}/overlay": "sensor_msgs/msg/Image", f"{ns}/semantic_color": "sensor_msgs/msg/Image",
                     f"{ns}/panoptic_color": "sensor_msgs/msg/Image"}     # every registered output
    with ImageBagReader(samples[storage] / "sample_bag") as bag:
        inputs = [(f.log_time_ns, f.stamp_ns, f.frame_id) for f in bag.frames()]
    for topic in types:
        assert len(msgs[topic]) == N
        got = [(t, m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, m.header.frame_id) for t, m in msgs[topic]]
        assert got == inputs, topic  # stamped and logged like their inputs
    for (_, pan), (_, sem), (_, inst), (_, ovl) in zip(*(msgs[f"{ns}/{k}"] for k in
                                                        ("panoptic", "semantic", "instances", "overlay"))):
        assert (pan.encoding, sem.encoding, ovl.encoding) == ("32SC1", "mono8", "bgr8")
        assert (pan.width, pan.height, ovl.width, ovl.height, inst.width, inst.height) == (W, H) * 3
        labels = np.frombuffer(pan.data, np.int32).reshape(H, W)
        classes = np.frombuffer(sem.data, np.uint8).reshape(H, W)
        ids = set(np.unique(labels)) - {0}
        assert ids == {i.id for i in inst.instances}
        for i in inst.instances:
            ys, xs = np.nonzero(labels == i.id)
            assert i.area == len(xs)
            assert (i.bbox.x_offset, i.bbox.y_offset) == (xs.min(), ys.min())
            assert (i.bbox.width, i.bbox.height) == (xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
            assert np.all(classes[labels == i.id] == i.class_index)
        assert np.all(classes[labels == 0] == 255)


def test_bag_eval_gt_by_index_and_bad_record(samples, tmp_path):
    """GT without stamps maps by position; a frame with data shorter than height*step is skipped and counted."""
    gt = tmp_path / "gt"
    shutil.copytree(samples["mcap"] / "gt", gt)
    meta = json.loads((gt / "panoptic.json").read_text())
    for im in meta["images"]:
        del im["stamp_ns"]
    (gt / "panoptic.json").write_text(json.dumps(meta))
    bag = tmp_path / "bag"
    with ImageBagReader(samples["mcap"] / "sample_bag") as src, BagWriter(bag, {TOPIC: "sensor_msgs/msg/Image"}) as w:
        for rec in src.records():
            data = rec.data
            if rec.index == 1:
                msg = w.store.deserialize_cdr(data, rec.msgtype)
                msg.data = msg.data[:100]
                data = w.store.serialize_cdr(msg, rec.msgtype)
            w.write(TOPIC, rec.log_time_ns, data)
    out = tmp_path / "eval"
    assert main(["bag", "eval", "--bag", str(bag), "--topic", TOPIC, "--gt", str(gt), "--out", str(out),
                 "--model", str(samples["model"]), "--no-overlay"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] == N - 1
    assert report["skipped"]["total"] == 1 and report["skipped"]["examples"][0]["index"] == 1
    assert [f["index"] for f in report["per_frame"]] == [0, 2]
    assert report["pq"]["mapping"] == "index" and report["pq"]["frames_with_gt"] == N - 1
    types, msgs = _read_bag(report["output_bag"])
    assert "/panoptic_node/overlay" not in types and len(msgs["/panoptic_node/panoptic"]) == N - 1


@pytest.mark.parametrize("case,pattern", [
    ("unknown_topic", r"'/nope' is not in bag"),
    ("not_image", r"std_msgs/msg/String, not an image"),
    ("truncated", r"cannot read bag"),
    ("missing", r"bag not found"),
])
def test_bag_eval_errors_exit_2(samples, tmp_path, capsys, case, pattern):
    bag = tmp_path / "bag"
    topic = TOPIC
    if case == "unknown_topic":
        shutil.copytree(samples["mcap"] / "sample_bag", bag)
        topic = "/nope"
    elif case == "not_image":
        with BagWriter(bag, {"/chatter": "std_msgs/msg/String"}) as w:
            w.write("/chatter", 1, w.store.types["std_msgs/msg/String"](data="x"))
        topic = "/chatter"
    elif case == "truncated":
        shutil.copytree(samples["mcap"] / "sample_bag", bag)
        f = next(bag.glob("*.mcap"))
        f.write_bytes(f.read_bytes()[: f.stat().st_size * 2 // 3])
    code = main(["bag", "eval", "--bag", str(bag), "--topic", topic, "--out", str(tmp_path / "o"),
                 "--model", str(samples["model"])])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("panoptic bag: error:") and len(err.strip().splitlines()) == 1
    import re
    assert re.search(pattern, err), err


def _oracle_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("bag_oracle_model", Path(__file__).with_name("bag_oracle_model.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("mapping", ["stamp", "index"])
def test_bag_eval_perfect_predictions_score_pq_1(samples, tmp_path, monkeypatch, mapping):
    """A model that returns the GT of each frame must get PQ exactly 1 through the frame -> GT mapping, and a
    GT folder shifted by one frame must not (so the mapping really decides which GT image is used)."""
    import panoptic_ros.pipeline as pipeline

    oracle = _oracle_module()
    monkeypatch.setattr(pipeline, "build_pipeline", lambda source=None, **kwargs: oracle.load(source))
    gt = tmp_path / "gt"
    shutil.copytree(samples["mcap"] / "gt", gt)
    meta = json.loads((gt / "panoptic.json").read_text())
    if mapping == "index":
        for im in meta["images"]:
            del im["stamp_ns"]
        (gt / "panoptic.json").write_text(json.dumps(meta))
    bag = str(samples["mcap"] / "sample_bag")
    assert main(["bag", "eval", "--bag", bag, "--gt", str(gt), "--out", str(tmp_path / "ok"), "--model",
                 str(samples["mcap"] / "gt"), "--no-overlay"]) == 0
    pq = json.loads((tmp_path / "ok" / "report.json").read_text())["pq"]
    assert pq["mapping"] == mapping and pq["frames_with_gt"] == N
    assert pq["All"]["pq"] == pytest.approx(1.0, abs=1e-12)

    # shift the GT by one frame: stamps (or ids) now point at the neighbouring image
    for im in meta["images"]:
        if mapping == "stamp":
            im["stamp_ns"] += 100_000_000
        else:
            im["id"] = (im["id"] % N) + 1
    for ann in meta["annotations"]:
        if mapping == "index":
            ann["image_id"] = (ann["image_id"] % N) + 1
    (gt / "panoptic.json").write_text(json.dumps(meta))
    assert main(["bag", "eval", "--bag", bag, "--gt", str(gt), "--out", str(tmp_path / "shifted"), "--model",
                 str(samples["mcap"] / "gt"), "--no-overlay"]) == 0
    pq = json.loads((tmp_path / "shifted" / "report.json").read_text())["pq"]
    assert pq["All"]["pq"] < 0.9


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime", "openvino"])
def test_bag_eval_on_a_runtime_records_it(samples, tmp_path, runtime):
    """--runtime / --precision pick the network runtime (the same pipeline as the node); section.name=value
    overrides work as in every command; report.json names runtime and precision."""
    from panoptic_ros.registry import RUNTIMES

    reason = RUNTIMES.get(runtime).unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path / "eval"
    assert main(["bag", "eval", "--bag", str(samples["mcap"] / "sample_bag"), "--out", str(out), "--model",
                 str(samples["model"]), "--runtime", runtime, "--precision", "fp32", "--no-overlay",
                 "--max-frames", "2", "inference.score_threshold=0.3", "node.overlay_alpha=0.2"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert (report["runtime"], report["precision"]) == (runtime, "fp32")
    assert report["inference"]["runtime"] == runtime and report["inference"]["score_threshold"] == 0.3
    assert report["frames"] == 2
