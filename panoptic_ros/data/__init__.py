"""panoptic_ros.data"""
