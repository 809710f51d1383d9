"""The class map topic ~/labels: panoptic_ros/PanopticLabelArray of the model's CategoryMap.

Published latched (transient local, depth 1: a late subscriber gets the current map at once) when the
node loads a model and again when the model changes, so consumers can name and colour the classes of
~/semantic, ~/instances and ~/instances_3d without reading the checkpoint. Colours are the class colours
that panoptic_ros.visualization draws (stuff in the class colour, things jittered around it).
"""
from __future__ import annotations

from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.ros.conversions import RCLPY
from panoptic_ros.stream.semantic import semantic_unknown
from panoptic_ros.visualization import instance_color

LABEL = "panoptic_ros/msg/PanopticLabel"
LABEL_ARRAY = "panoptic_ros/msg/PanopticLabelArray"
TOPIC = "labels"


def label_records(categories: CategoryMap) -> list[dict]:
    """One dict per class in class-index order: class_index, category_id (the dataset's), name, is_thing,
    color (r, g, b)."""
    return [{"class_index": index, "category_id": int(c.id), "name": c.name, "is_thing": bool(c.isthing),
             "color": instance_color(c.color, 0, False)} for index, c in enumerate(categories.categories)]


def labels_msg(categories: CategoryMap, model: str = "", header=None, kit=RCLPY):
    """panoptic_ros/PanopticLabelArray of a CategoryMap (rclpy message by default; kit as in conversions)."""
    Label = kit.type(LABEL)
    labels = [Label(class_index=rec["class_index"], category_id=rec["category_id"], name=rec["name"],
                    is_thing=rec["is_thing"],
                    r=rec["color"][0], g=rec["color"][1], b=rec["color"][2]) for rec in label_records(categories)]
    return kit.type(LABEL_ARRAY)(header=header if header is not None else kit.header(), model=str(model),
                                 semantic_unknown=semantic_unknown(len(categories)), labels=labels)


def categories_from_labels_msg(msg) -> CategoryMap:
    """The CategoryMap a PanopticLabelArray describes (what a consumer rebuilds; inverse of labels_msg)."""
    labels = sorted(msg.labels, key=lambda label: int(label.class_index))
    if [int(label.class_index) for label in labels] != list(range(len(labels))):
        raise ValueError(f"labels: class indices must be 0..{len(labels) - 1}, got "
                         f"{[int(la.class_index) for la in labels]}")
    return CategoryMap([Category(int(la.category_id), str(la.name), bool(la.is_thing),
                                 (int(la.r), int(la.g), int(la.b))) for la in labels])


def labels_qos():
    """Latched QoS of ~/labels: reliable, transient local, keep last 1 (subscribers must ask for transient
    local too to get the map published before they joined)."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)
