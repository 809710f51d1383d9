"""The ROS benchmarks, in one place: the node's per-frame ROS overhead (overhead.py, `panoptic bench ros`), a
memory soak of the installed node (soak.py) and one batched node vs separate nodes over several cameras
(multi_camera.py, `panoptic bench cameras`). Their options are parsed in cli/bench_ros.py."""
