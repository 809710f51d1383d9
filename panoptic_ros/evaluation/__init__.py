"""panoptic_ros.evaluation"""
