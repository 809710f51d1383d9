"""The RoI mask head inside an exported file, so mask_heuristic runs on onnxruntime and openvino too.

Design: the exported graph returns the pyramid levels the head pools from as extra outputs ("features_0..n",
requested only when mask_heuristic runs); the head itself (MultiScaleRoIAlign, parameter-free, plus a small FCN
of ~0.1M parameters for 64 FPN channels) runs in torch from weights embedded in the export's description
(safetensors bytes, base64, key "mask_head"). The .onnx or .xml alone is therefore a complete model, and the FCN
runs in fp32 whatever precision the network ran in (it is ~1 % of the network's FLOPs per detection). A second
exported graph would need a second session per runtime and dynamic RoI counts in both exporters; torch is there
anyway (the pipeline is torch).
"""
from __future__ import annotations

import base64

import torch

from ..modeling.extra_heads import MaskHead


def mask_head_description(model) -> dict | None:
    """{"level_names", "channels", "num_classes", "num_convs", "weights"} of a model's mask head, else None."""
    from safetensors.torch import save

    head = getattr(model, "mask_head", None)
    if head is None:
        return None
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in head.state_dict().items()}
    convs = sum(1 for m in head.fcn if isinstance(m, torch.nn.Conv2d))
    return {"level_names": list(head.level_names), "channels": int(head.logits.in_channels),
            "num_classes": int(head.logits.out_channels), "num_convs": convs,
            "weights": base64.b64encode(save(state)).decode("ascii")}


def build_mask_head(description: dict):
    """The torch MaskHead (eval mode, CPU) of an export's "mask_head" description."""
    from safetensors.torch import load

    head = MaskHead(description["channels"], description["num_classes"], tuple(description["level_names"]),
                    num_convs=description["num_convs"])
    head.load_state_dict(load(base64.b64decode(description["weights"])))
    return head.eval()
