"""panoptic_ros.export"""
