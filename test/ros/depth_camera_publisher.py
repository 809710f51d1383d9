"""Test helper process: a depth camera driver as users run one (a separate process, rclpy's default QoS: reliable,
keep last 10; Fast DDS at its defaults, no large-message profile), publishing N frames of colour (160x120 rgb8,
a red blob), depth (1280x960 16UC1 mm, registered) and camera_info, one stamp per frame.

    python depth_camera_publisher.py PREFIX N PERIOD     (topics PREFIX/image_raw, PREFIX/depth, PREFIX/camera_info)
Prints "published K" per frame; waits (bounded) for the node's three subscriptions first.
"""
import sys
import time

import numpy as np
import rclpy
from sensor_msgs.msg import CameraInfo, Image

H, W, DH, DW = 120, 160, 960, 1280


def image(pixels, encoding, stamp, frame_id):
    msg = Image(height=pixels.shape[0], width=pixels.shape[1], encoding=encoding, is_bigendian=0,
                step=pixels.strides[0], data=pixels.tobytes())
    msg.header.stamp.sec, msg.header.frame_id = stamp, frame_id
    return msg


def main(prefix: str, count: int, period: float) -> int:
    rclpy.init()
    node = rclpy.create_node("depth_camera_driver")
    pubs = {name: node.create_publisher(t, f"{prefix}/{name}", 10)
            for name, t in (("image_raw", Image), ("depth", Image), ("camera_info", CameraInfo))}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(p.get_subscription_count() > 0 for p in pubs.values()):
        rclpy.spin_once(node, timeout_sec=0.1)
    time.sleep(1.0)
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[40:60, 100:120, 0] = 255
    depth = np.full((DH, DW), 2000, np.uint16)
    depth[320:480, 800:960] = 1000
    for k in range(count):
        stamp = 3000 + k
        info = CameraInfo(width=W, height=H, k=[100.0, 0.0, 79.5, 0.0, 100.0, 59.5, 0.0, 0.0, 1.0])
        info.header.stamp.sec, info.header.frame_id = stamp, "color_optical"
        pubs["camera_info"].publish(info)
        pubs["depth"].publish(image(depth, "16UC1", stamp, "color_optical"))
        time.sleep(0.1)
        pubs["image_raw"].publish(image(rgb, "rgb8", stamp, "camera"))
        print(f"published {k + 1}", flush=True)
        time.sleep(period)
    time.sleep(2.0)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
