"""The mask-based merge policies, one module each (issue 8; docs/policies.md, docs/extending.md).

A module holds everything its policy does: the registered MaskMergePolicy subclass with its per-detection maps
from the network outputs (pipeline stage 5a), its owner map (stage 5) and its ground-truth stand-ins for the
oracle evaluation. The pipeline and evaluation/oracle.py call these methods without knowing any policy's name.
"""
