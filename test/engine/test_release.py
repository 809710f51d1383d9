"""A released (float16-stored) checkpoint is half the size and predicts like the float32 one."""
from pathlib import Path

import numpy as np
import torch

from panoptic_ros.config import load_config
from panoptic_ros.data.synth import CATEGORIES, render_scene
from panoptic_ros.engine.release import release_checkpoint
from panoptic_ros.modeling import build_model, load_checkpoint, save_checkpoint
from panoptic_ros.pipeline import build_pipeline

ROOT = Path(__file__).resolve().parents[2]


def test_half_release_loads_and_matches(tmp_path):
    cfg = load_config(ROOT / "panoptic_ros" / "configs" / "smoke.yaml",
                      ["inference.device=cpu", "inference.score_threshold=0.0", "inference.stuff_area_threshold=0"])
    model = build_model(cfg, CATEGORIES).eval()
    src = save_checkpoint(tmp_path / "full.safetensors", model, cfg, CATEGORIES, extra={"epoch": 3})
    dst = release_checkpoint(src, tmp_path / "rel" / "default.safetensors", extra={"evaluation": {"PQ": 1}})
    assert dst.stat().st_size < 0.6 * src.stat().st_size
    loaded = load_checkpoint(dst)
    assert loaded.checkpoint_extra["epoch"] == 3 and loaded.checkpoint_extra["stored_dtype"] == "float16"
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-3, atol=1e-4), name
    image, _, _ = render_scene(np.random.default_rng(0), 160, 120)
    sem_a = build_pipeline(model, runtime="torch", device="cpu").predict([image])[0].category_map()
    sem_b = build_pipeline(loaded, runtime="torch", device="cpu").predict([image])[0].category_map()
    assert (sem_a == sem_b).float().mean() > 0.98
