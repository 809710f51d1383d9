"""panoptic_ros.engine"""
