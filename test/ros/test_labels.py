"""The ~/labels class-map message of a CategoryMap."""
import numpy as np
import pytest

pytest.importorskip("panoptic_ros.msg")
from panoptic_ros.data.categories import Category, CategoryMap  # noqa: E402
from panoptic_ros.ros import labels  # noqa: E402
from panoptic_ros.visualization import colorize_panoptic  # noqa: E402

pytestmark = pytest.mark.ros
CATS = CategoryMap([Category(7, "road", False, (128, 64, 128)), Category(2, "person", True, (220, 20, 60)),
                    Category(30, "sky", False, (70, 130, 180))])


def test_labels_follow_the_class_index_and_the_drawn_colours():
    msg = labels.labels_msg(CATS, model="tiny.safetensors")
    assert msg.model == "tiny.safetensors" and msg.semantic_unknown == 255
    assert [(la.class_index, la.category_id, la.name, la.is_thing) for la in msg.labels] == [
        (0, 2, "person", True), (1, 7, "road", False), (2, 30, "sky", False)]
    drawn = colorize_panoptic(np.array([[1]]), [{"id": 1, "category_id": 1, "isthing": False}], CATS)[0, 0]
    assert (msg.labels[1].r, msg.labels[1].g, msg.labels[1].b) == tuple(drawn) == (128, 64, 128)


def test_round_trip_through_serialization_and_back_to_a_category_map():
    from rclpy.serialization import deserialize_message, serialize_message

    from panoptic_ros.msg import PanopticLabelArray
    back = deserialize_message(serialize_message(labels.labels_msg(CATS)), PanopticLabelArray)
    assert labels.categories_from_labels_msg(back).to_list() == CATS.to_list()
    back.labels = back.labels[1:]
    with pytest.raises(ValueError, match="class indices must be 0..1"):
        labels.categories_from_labels_msg(back)


def test_many_classes_use_the_16_bit_unknown_and_rosbags_kit():
    from panoptic_ros.ros.bag.writer import panoptic_typestore
    from panoptic_ros.ros.conversions import RosbagsMessages

    many = CategoryMap([Category(i, f"c{i}", i % 2 == 0) for i in range(300)])
    msg = labels.labels_msg(many, kit=RosbagsMessages(panoptic_typestore()))
    assert msg.semantic_unknown == 65535 and len(msg.labels) == 300 and msg.labels[299].name == "c299"


def test_latched_qos():
    from rclpy.qos import DurabilityPolicy
    assert labels.labels_qos().durability == DurabilityPolicy.TRANSIENT_LOCAL
