"""Test helpers of the tracking tests import by name (importlib mode): tracking_frames builds their frames."""
import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
