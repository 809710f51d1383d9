"""The one JSON writer: strict JSON (no NaN), numpy / torch / paths converted, written atomically."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from panoptic_ros.utils import json_io


def test_values_become_plain_json():
    data = {"nan": math.nan, "inf": -math.inf, "np": np.float32(0.5), "npint": np.int64(3), "flag": np.bool_(True),
            "arr": np.arange(3), "t": torch.tensor([1.5, math.nan]), "t0": torch.tensor(2), "path": Path("a/b"),
            "tuple": (1, 2), 7: "int key", "nested": [{"x": np.nan}]}
    text = json_io.dumps(data)
    back = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in strict JSON"))
    assert back == {"nan": None, "inf": None, "np": 0.5, "npint": 3, "flag": True, "arr": [0, 1, 2],
                    "t": [1.5, None], "t0": 2, "path": "a/b", "tuple": [1, 2], "7": "int key",
                    "nested": [{"x": None}]}


def test_unknown_types_are_named():
    with pytest.raises(TypeError, match="object"):
        json_io.dumps({"x": object()})


def test_write_json_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "report.json"
    json_io.write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1} and path.read_text().endswith("\n")

    def crash(*args, **kwargs):
        raise OSError("disk gone")

    monkeypatch.setattr("panoptic_ros.utils.atomic.os.replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        json_io.write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1}            # the previous report survives
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no temporary left behind


def test_compact_form():
    assert json_io.dumps({"a": [1, 2]}, indent=None) == '{"a":[1,2]}'
