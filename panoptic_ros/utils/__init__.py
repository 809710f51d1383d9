"""Ground-layer helpers every other layer may use: crash-safe file writes and the one JSON writer.

Nothing here imports another panoptic_ros subpackage (docs/architecture.md)."""
