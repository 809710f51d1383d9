"""The output registry (panoptic_ros/ros/outputs.py): every built-in output builds the same message for rclpy and
for a bag and decodes back to what it was built from; an output registered here, in the test module, is
published by the node and written by `bag eval` without editing any other file."""
import threading

import numpy as np
import pytest
import torch

pytest.importorskip("rclpy")
from conftest import image_msg  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from panoptic_ros.data.categories import Category, CategoryMap  # noqa: E402
from panoptic_ros.panoptic import fuse  # noqa: E402
from panoptic_ros.ros import conversions, outputs  # noqa: E402
from panoptic_ros.stream.semantic import semantic_from_panoptic  # noqa: E402
from panoptic_ros.visualization import colorize_panoptic  # noqa: E402

pytestmark = pytest.mark.ros
CATS = CategoryMap([Category(1, "person", True, (220, 20, 60)), Category(2, "road", False, (128, 64, 128))])


def fused(h=40, w=50):
    logits = torch.zeros((2, h, w))
    logits[0, : h // 2] = 2.0
    logits[1, h // 2:] = 3.0
    boxes = torch.tensor([[2.0, 3.0, 20.0, 18.0], [15.0, 5.0, 40.0, 19.0]])
    return fuse(logits, boxes, torch.tensor([0.9, 0.8]), torch.tensor([0, 0]), thing_mask=CATS.thing_mask,
                policy="highest_confidence", stuff_area_threshold=0)


class ThingMask(outputs.Output):
    """Toy output: mono8, 255 on pixels of thing segments."""
    name = "toy_thing_mask"

    def build(self, frame, kit=conversions.RCLPY):
        things = [s["id"] for s in frame.segments if s["isthing"]]
        mask = np.isin(frame.panoptic, things).astype(np.uint8) * 255
        return conversions.numpy_to_image_msg(mask, "mono8", frame.header, kit)

    def decode(self, msg):
        return conversions.image_msg_to_array(msg, ("mono8",))[..., 0] > 0


@pytest.fixture
def toy_output():
    outputs.register(ThingMask)
    yield outputs.OUTPUTS.get(ThingMask.name)
    outputs.OUTPUTS.unregister(ThingMask.name)


def expected_thing_mask(result) -> np.ndarray:
    pan = result.panoptic.numpy()
    return np.isin(pan, [s["id"] for s in result.segments if s["isthing"]])


def test_builtin_outputs_in_order():
    names = [o.name for o in outputs.all_outputs()]
    assert names[:4] == ["panoptic", "semantic", "instances", "overlay"]
    assert names[4:6] == ["semantic_color", "panoptic_color"]
    assert [o.name for o in outputs.all_outputs() if o.on_demand] == ["overlay", "semantic_color", "panoptic_color"]
    assert outputs.topics("/front/panoptic_node")["instances"] == "/front/panoptic_node/instances"
    with pytest.raises(ValueError, match="unknown node output 'nope'"):
        outputs.select(["nope"])


def test_rclpy_and_rosbags_messages_agree_and_decode_back():
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Header

    from panoptic_ros.ros.bag.writer import panoptic_typestore

    result = fused()
    rgb = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    store = panoptic_typestore()
    kit = conversions.RosbagsMessages(store)
    T = store.types
    bag_header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=3, nanosec=4), frame_id="cam")
    ros_header = Header(frame_id="cam")
    ros_header.stamp.sec, ros_header.stamp.nanosec = 3, 4
    live = outputs.OutputFrame(result, ros_header, CATS, rgb, 0.5)
    bag = outputs.OutputFrame(result, bag_header, CATS, rgb, 0.5)
    pan = result.panoptic.numpy()
    expected = {
        "panoptic": pan,
        "semantic": semantic_from_panoptic(pan, result.segments, 2),
        "instances": conversions.instance_records(pan, result.segments, CATS),
        "panoptic_color": colorize_panoptic(pan, result.segments, CATS),
    }
    semantic = expected["semantic"]
    expected["semantic_color"] = np.zeros(semantic.shape + (3,), np.uint8)       # unknown (255) black
    for index, category in enumerate(CATS.categories):
        expected["semantic_color"][semantic == index] = category.color
    for out in outputs.all_outputs():
        a, b = out.build(live, conversions.RCLPY), out.build(bag, kit)
        # the same message: the node's, read back by rosbags, serializes to the bag writer's bytes (re-serializing
        # normalizes CDR padding, which rclpy does not zero)
        wire = store.deserialize_cdr(bytes(serialize_message(a)), out.msgtype)
        assert bytes(store.serialize_cdr(wire, out.msgtype)) == bytes(store.serialize_cdr(b, out.msgtype)), out.name
        decoded_a, decoded_b = out.decode(a), out.decode(store.deserialize_cdr(store.serialize_cdr(b, out.msgtype),
                                                                               out.msgtype))
        if out.name == "instances":
            assert decoded_a == decoded_b
            assert [r["id"] for r in decoded_a] == [r["id"] for r in expected["instances"]]
            assert [r["bbox"] for r in decoded_a] == [r["bbox"] for r in expected["instances"]]
        else:
            np.testing.assert_array_equal(decoded_a, decoded_b)
            if out.name in expected:
                np.testing.assert_array_equal(decoded_a, expected[out.name])
                assert decoded_a.dtype == expected[out.name].dtype
            elif out.name == "overlay":
                assert decoded_a.shape == rgb.shape and decoded_a.dtype == np.uint8
    assert outputs.OUTPUTS.get("overlay").build(outputs.OutputFrame(result, ros_header, CATS)) is None


def test_toy_output_is_written_by_bag_eval(toy_output, tiny_checkpoint, tmp_path):
    import json

    from rosbags.rosbag2 import Reader

    from panoptic_ros.cli.main import main
    from panoptic_ros.ros.bag.make_sample import make_sample
    from panoptic_ros.ros.bag.writer import panoptic_typestore

    make_sample(tmp_path / "sample", frames=2, width=64, height=48, seed=1)
    out = tmp_path / "eval"
    assert main(["bag", "eval", "--bag", str(tmp_path / "sample" / "sample_bag"), "--out", str(out),
                 "--model", str(tiny_checkpoint), "--runtime", "torch", "--no-overlay"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["output_topics"][toy_output.name] == f"/panoptic_node/{toy_output.name}"
    store = panoptic_typestore()
    msgs = {}
    with Reader(report["output_bag"]) as reader:
        for conn, _, raw in reader.messages():
            msgs.setdefault(conn.topic, []).append(store.deserialize_cdr(raw, conn.msgtype))
    assert "/panoptic_node/overlay" not in msgs
    masks, labels = msgs[f"/panoptic_node/{toy_output.name}"], msgs["/panoptic_node/panoptic"]
    instances = msgs["/panoptic_node/instances"]
    assert len(masks) == len(labels) == 2
    for mask_msg, label_msg, inst in zip(masks, labels, instances):
        assert mask_msg.header.stamp == label_msg.header.stamp
        pan = outputs.OUTPUTS.get("panoptic").decode(label_msg)
        things = [r["id"] for r in outputs.OUTPUTS.get("instances").decode(inst) if r["is_thing"]]
        np.testing.assert_array_equal(toy_output.decode(mask_msg), np.isin(pan, things))


def test_toy_output_is_published_by_the_node(toy_output, ros_domain, ros_graph):
    """The node in this process (its own rclpy context, stub model): the output registered above gets a
    publisher and a message per frame, stamped like the input."""
    import rclpy
    from node_with_test_model import FactoryLoader
    from rclpy.executors import SingleThreadedExecutor

    from panoptic_ros.ros import node as node_module

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    node = node_module.PanopticNode(context=context, model_loader=FactoryLoader("panoptic_test_stub_model:load"),
                                    cli_args=["--ros-args", "-r", "image:=/toy/image_raw", "-p", "model:=stub"])
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    masks = ros_graph.collect(Image, f"/panoptic_node/{toy_output.name}")
    pub = ros_graph.publisher(Image, "/toy/image_raw")
    try:
        assert ros_graph.wait_for_subscriber(pub, 30)
        assert ros_graph.wait_for_publisher(f"/panoptic_node/{toy_output.name}", 30)
        ros_graph.spin_for(0.5)
        rgb = np.zeros((40, 80, 3), np.uint8)
        pub.publish(image_msg(rgb, "rgb8", stamp=(7, 8)))
        assert ros_graph.spin_until(lambda: masks, 30), "no toy output from the node"
        msg = masks[0][1]
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (7, 8)
        from panoptic_test_stub_model import StubModel
        result = StubModel().predict([rgb], inference=node._settings.cfg.inference)[0]
        np.testing.assert_array_equal(toy_output.decode(msg), expected_thing_mask(result))
    finally:
        ros_graph.node.destroy_publisher(pub)
        node.shutdown()
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        spinner.join(5)


def test_semantic_color_above_255_classes():
    """The 16-bit semantic path (more than 255 classes) draws the same class colours; unknown black."""
    from std_msgs.msg import Header

    from panoptic_ros.panoptic import PanopticResult

    many = CategoryMap([Category(i + 1, f"c{i}", False, (i % 256, (7 * i) % 256, 200)) for i in range(300)])
    pan = np.array([[1, 2], [0, 2]], np.int32)
    result = PanopticResult(torch.from_numpy(pan), [{"id": 1, "category_id": 299, "isthing": False},
                                                    {"id": 2, "category_id": 3, "isthing": False}])
    out = outputs.OUTPUTS.get("semantic_color")
    rgb = out.decode(out.build(outputs.OutputFrame(result, Header(), many)))
    assert rgb[0, 0].tolist() == [299 % 256, (7 * 299) % 256, 200] and rgb[0, 1].tolist() == [3, 21, 200]
    assert rgb[1, 0].tolist() == [0, 0, 0]


def test_semantic_and_semantic_color_share_one_class_image(monkeypatch):
    """~/semantic and ~/semantic_color draw the frame's one class-index image (computed once, not per output)."""
    from std_msgs.msg import Header

    from panoptic_ros.panoptic import PanopticResult
    from panoptic_ros.stream import frame

    calls = []
    real = frame.semantic_from_panoptic
    monkeypatch.setattr(frame, "semantic_from_panoptic", lambda *a: calls.append(a) or real(*a))
    segments = [{"id": 1, "category_id": 0, "isthing": True}, {"id": 2, "category_id": 1, "isthing": False}]
    result = PanopticResult(torch.tensor([[1, 2]], dtype=torch.int32), segments)
    f = outputs.OutputFrame(result, Header(), CATS)
    sem = outputs.OUTPUTS.get("semantic").decode(outputs.OUTPUTS.get("semantic").build(f))
    rgb = outputs.OUTPUTS.get("semantic_color").decode(outputs.OUTPUTS.get("semantic_color").build(f))
    assert sem.tolist() == [[0, 1]] and rgb.tolist() == [[list(c.color) for c in CATS.categories]]
    assert len(calls) == 1
