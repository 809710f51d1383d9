"""Every shipped config (panoptic_ros/configs/*.yaml) loads, validates and builds its network (ImageNet weights off);
the real-dataset recipes keep the settings docs/recipes.md states."""
import copy
import warnings
from pathlib import Path

import pytest
import torch

import panoptic_ros
from panoptic_ros.config import load_config
from panoptic_ros.config.io import read_config_file
from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.modeling import PanopticModel
from panoptic_ros.modeling.convert_fcos import fcos_config

CONFIGS = Path(panoptic_ros.__file__).parent / "configs"
SHIPPED = sorted(p.name for p in CONFIGS.glob("*.yaml"))
CATEGORIES = CategoryMap([Category(1, "person", True), Category(3, "car", True), Category(149, "road", False)])


def offline(cfg):
    """cfg without what needs files from elsewhere: ImageNet weights and an init_weights checkpoint."""
    cfg = copy.deepcopy(cfg)
    cfg.model.pretrained_backbone = False
    cfg.model.init_weights = ""
    return cfg


def test_the_recipes_are_shipped():
    assert {"coco_r50.yaml", "coco_r50_from_fcos.yaml", "cityscapes_r50.yaml"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_loads_validates_and_builds(name):
    raw = read_config_file(CONFIGS / name)
    cfg = load_config(CONFIGS / name)          # validates every key, type, range and choice
    for section, values in raw.items():        # and every value in the file reached the config
        for key, value in values.items():
            assert getattr(getattr(cfg, section), key) == value, f"{name}: {section}.{key}"
    torch.manual_seed(0)
    with warnings.catch_warnings():   # frozen BatchNorm without ImageNet weights: expected here
        warnings.simplefilter("ignore")
        model = PanopticModel(offline(cfg), CATEGORIES)
    assert model.detection_head.num_classes == 2 and model.layout == cfg.model.layout
    assert set(getattr(model, "frozen", ())) == set(cfg.model.freeze)


@pytest.mark.parametrize("name, batch, size, epochs", [("coco_r50.yaml", 16, (576, 864), 50),
                                                       ("coco_r50_from_fcos.yaml", 16, (576, 864), 12),
                                                       ("cityscapes_r50.yaml", 16, (1024, 2048), 200)])
def test_recipes_keep_the_documented_settings(name, batch, size, epochs):
    cfg = load_config(CONFIGS / name)
    processes = 4   # the torchrun commands of docs/recipes.md
    assert cfg.data.batch_size * cfg.solver.accumulate * processes == batch
    assert (cfg.data.min_size, cfg.data.max_size) == size
    assert cfg.model.backbone == "resnet50" and cfg.model.frozen_bn and cfg.solver.epochs == epochs
    assert (cfg.solver.lr, cfg.loss.lambda_o, cfg.loss.lambda_s, cfg.loss.lambda_i) == (1e-4, 0.5, 0.5, 0.01)
    assert all(0 < s < cfg.solver.epochs for s in cfg.solver.lr_steps)


def test_from_fcos_recipe_builds_the_network_convert_writes():
    """init_weights copies tensors by name and shape: the recipe's network must be the converted one, tensor for
    tensor, with the converter's bridges (anchor point, padding) set."""
    recipe = load_config(CONFIGS / "coco_r50_from_fcos.yaml")
    assert recipe.model.freeze == ["backbone", "fpn", "detection_head"]
    assert recipe.model.init_weights == "runs/fcos_coco/converted.safetensors"
    converted = fcos_config(recipe)       # what `panoptic convert --config coco_r50_from_fcos.yaml` builds
    assert converted.model.freeze == [] and converted.model.init_weights == ""
    for key in ("layout", "anchor_point", "size_divisibility", "frozen_bn", "fpn_channels", "branch_channels",
                "det_head_convs", "backbone"):
        assert getattr(recipe.model, key) == getattr(converted.model, key), key
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = PanopticModel(offline(recipe), CATEGORIES).state_dict()
    theirs = PanopticModel(converted, CATEGORIES, from_checkpoint=True).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
