"""Configuration: one dataclass tree (schema) plus YAML / override / validation helpers (io)."""
from .io import ConfigError, check_value, from_dict, iter_fields, load_config, save_config, set_value, to_dict
from .schema import (BACKBONES, MERGE_POLICIES, DataConfig, InferenceConfig, LossConfig, ModelConfig, NodeConfig,
                     PanopticConfig, SolverConfig)

__all__ = ["ConfigError", "check_value", "from_dict", "iter_fields", "load_config", "save_config", "set_value",
           "to_dict", "BACKBONES", "MERGE_POLICIES", "DataConfig", "InferenceConfig", "LossConfig", "ModelConfig",
           "NodeConfig", "PanopticConfig", "SolverConfig"]
