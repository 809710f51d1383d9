"""Fast DDS set-up for camera-sized messages, applied before rclpy.init() by the node and the bag tools.

Measured on the development machine (rmw_fastrtps_cpp of the Kilted wheels, 20 frames at 10 Hz):
- best-effort publisher -> best-effort subscriber, 640x480 or 1280x720 bgr8: 0-7 of 20 frames arrive with
  the default configuration; 20 of 20 when the publisher uses the profile shipped here (a 32 MiB
  shared-memory segment instead of 512 KiB), under both ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and SUBNET;
- reliable -> reliable: 20 of 20 either way; mixing the profile with default peers keeps working;
- FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA: 20 of 20 only when every process sets it and the discovery range
  is SUBNET; under LOCALHOST rmw_fastrtps replaces the builtin transports (no effect), and one process with
  LARGE_DATA against default peers received 0 of 20 even with reliable QoS.
So the profile is the safe default; users who configure Fast DDS themselves keep their configuration.
"""
from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

PROFILE_FILE = Path(__file__).resolve().with_name("fastdds_profile.xml")
OPT_OUT = "PANOPTIC_FASTDDS_PROFILE"    # set to 0 to leave Fast DDS at its defaults
USER_SETTINGS = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_BUILTIN_TRANSPORTS")


def use_large_message_profile(env: MutableMapping[str, str] | None = None) -> str | None:
    """Point Fast DDS at the shipped profile unless the user configured Fast DDS or chose another RMW.

    Call before rclpy.init() (the RMW reads the environment when the context starts). Returns the profile
    path when applied, else None. Child processes inherit it through the environment.
    """
    env = os.environ if env is None else env
    if env.get(OPT_OUT, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    if not env.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp").startswith("rmw_fastrtps"):
        return None
    if any(env.get(name) for name in USER_SETTINGS):
        return None
    if not PROFILE_FILE.is_file():
        return None
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(PROFILE_FILE)
    return str(PROFILE_FILE)
