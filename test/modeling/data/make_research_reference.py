"""Writes research_reference.safetensors: forward_raw outputs of research_model.safetensors (the research-layout
model that shipped until the CPU model replaced it) on a
fixed input, computed by the code BEFORE the fast layout existed. test_layouts.py checks that today's code
still gives bit-identical outputs, so existing checkpoints keep working unchanged.

Run once (already done; re-running it with changed code would defeat the test):
    bash tools/run.sh python test/modeling/data/make_research_reference.py
"""
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from panoptic_ros.config import from_dict
from panoptic_ros.data.categories import CategoryMap
from panoptic_ros.modeling import PanopticModel

HERE = Path(__file__).resolve().parent


def reference_input() -> torch.Tensor:
    """A fixed normalised batch [2, 3, 128, 160] (two images, 160x128 is a multiple of 32)."""
    g = torch.Generator().manual_seed(1234)
    return torch.randn(2, 3, 128, 160, generator=g)


def load_shipped_without_sidecar_checks() -> PanopticModel:
    """The previously shipped model built from its sidecar config (keys of later config versions dropped)."""
    path = HERE / "research_model.safetensors"
    side = json.loads(path.with_suffix(".json").read_text())
    cfg_dict = side["config"]
    cfg_dict["inference"].pop("half", None)
    model = PanopticModel(from_dict(cfg_dict), CategoryMap.from_list(side["categories"]), from_checkpoint=True)
    model.load_state_dict(load_file(str(path)), strict=True)
    return model.eval()


def main() -> None:
    torch.set_num_threads(2)
    model = load_shipped_without_sidecar_checks()
    with torch.inference_mode():
        raw = model.forward_raw(reference_input())
    out = {"semantic": raw["semantic"], "offsets": raw["offsets"]}
    for key in ("cls_logits", "box_regression", "centerness"):
        for i, t in enumerate(raw[key]):
            out[f"{key}.{i}"] = t
    meta = {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": "2"}
    save_file({k: v.contiguous() for k, v in out.items()}, str(HERE / "research_reference.safetensors"),
              metadata=meta)
    print({k: tuple(v.shape) for k, v in out.items()})


if __name__ == "__main__":
    main()
