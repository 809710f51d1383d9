"""`python -m panoptic_ros.ros.node`: panoptic_node without the installed executable."""
import sys

from .entry import main

sys.exit(main())
