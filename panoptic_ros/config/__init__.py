"""Configuration: one dataclass tree (schema) plus YAML / override / validation helpers (io).

MERGE_POLICIES and BACKBONES are the registries of panoptic_ros.registry (iterable, ``in``, ``list()``), re-exported
here because they are the valid values of ``inference.merge_policy`` and ``model.backbone``.
"""
from ..registry import BACKBONES, MERGE_POLICIES
from .io import (
                 ConfigError,
                 check_value,
                 from_dict,
                 iter_fields,
                 load_config,
                 parse_override,
                 read_config_file,
                 save_config,
                 set_value,
                 to_dict,
)
from .schema import DataConfig, InferenceConfig, LossConfig, ModelConfig, NodeConfig, PanopticConfig, SolverConfig

__all__ = ["ConfigError", "check_value", "from_dict", "iter_fields", "load_config", "parse_override",
           "read_config_file", "save_config", "set_value", "to_dict", "BACKBONES", "MERGE_POLICIES", "DataConfig",
           "InferenceConfig", "LossConfig", "ModelConfig", "NodeConfig", "PanopticConfig", "SolverConfig"]
