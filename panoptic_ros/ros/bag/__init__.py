"""Rosbag2 tools: read camera bags, write the node's outputs to bags, offline eval, replay and live recording.

reader / writer / make_sample / evaluate need only the rosbags library; play and record_eval use rclpy.
"""
