"""panoptic_ros.panoptic"""
