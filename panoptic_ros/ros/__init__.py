"""panoptic_ros.ros"""
