"""panoptic_ros.modeling"""
