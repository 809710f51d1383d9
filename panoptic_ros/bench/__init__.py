"""panoptic_ros.bench"""
