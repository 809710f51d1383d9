"""Writes shipped_reference.safetensors: forward_raw outputs (every output, optional heads included) of the shipped
model (panoptic_ros/weights/default.safetensors, fast layout) on the fixed input of make_research_reference.py, as
released. test_layouts.py checks that the code keeps giving these tensors bit for bit (same torch build, CPU kind and
thread count; close elsewhere), so refactors cannot change what users get from the shipped model unnoticed.

Run once per released model (re-running it with changed code would defeat the test):
    bash tools/run.sh python test/modeling/data/make_shipped_reference.py
"""
from pathlib import Path

import torch
from make_research_reference import reference_input
from safetensors.torch import save_file

from panoptic_ros.modeling import default_model_path, load_checkpoint

HERE = Path(__file__).resolve().parent
OPTIONAL = ("levelness", "borderness", "features")


def flat_outputs(raw: dict) -> dict[str, torch.Tensor]:
    """forward_raw's dict with lists flattened to name.i (what the reference file stores)."""
    out = {}
    for key, value in raw.items():
        if isinstance(value, (list, tuple)):
            out.update({f"{key}.{i}": t for i, t in enumerate(value)})
        else:
            out[key] = value
    return out


def main() -> None:
    torch.set_num_threads(2)
    model = load_checkpoint(default_model_path()).eval()
    with torch.inference_mode():
        raw = model.forward_raw(reference_input(), optional=OPTIONAL)
    meta = {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": "2"}
    out = flat_outputs(raw)
    save_file({k: v.contiguous() for k, v in out.items()}, str(HERE / "shipped_reference.safetensors"), metadata=meta)
    print({k: tuple(v.shape) for k, v in out.items()})


if __name__ == "__main__":
    main()
