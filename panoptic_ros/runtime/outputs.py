"""The output naming rule lives in panoptic_ros.export.outputs (export is the lower layer); re-exported here
for callers that still import it from the runtime (test/conftest.py)."""
from ..export.outputs import FlatOutputs, flatten_outputs, map_outputs, output_names, unflatten_outputs

__all__ = ["FlatOutputs", "flatten_outputs", "map_outputs", "output_names", "unflatten_outputs"]
