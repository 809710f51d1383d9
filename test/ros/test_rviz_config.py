"""rviz/panoptic.rviz shows the node's viewable outputs (issue 20 item 1): every image display of the node reads a
registered output topic, the colour images among them, and the header names where the file is installed."""
import yaml
from conftest import ROOT

from panoptic_ros.ros import outputs

RVIZ = ROOT / "rviz" / "panoptic.rviz"


def test_rviz_displays_read_registered_outputs_and_the_colour_images():
    text = RVIZ.read_text()
    config = yaml.safe_load(text)
    topics = {d["Topic"]["Value"] for d in config["Visualization Manager"]["Displays"]
              if d["Class"] == "rviz_default_plugins/Image"}
    node_topics = {t for t in topics if t.startswith("/panoptic_node/")}
    registered = set(outputs.topics("/panoptic_node").values())
    assert node_topics <= registered, node_topics - registered
    assert {"/panoptic_node/semantic_color", "/panoptic_node/panoptic_color", "/panoptic_node/overlay"} <= node_topics
    # installed by CMakeLists.txt (install(DIRECTORY ... rviz DESTINATION share/...)) under share/panoptic_ros/rviz
    assert "share/panoptic_ros/rviz/panoptic.rviz" in text and "/config/" not in text
    assert "install(DIRECTORY launch params rviz DESTINATION share/${PROJECT_NAME})" in (
        ROOT / "CMakeLists.txt").read_text()
