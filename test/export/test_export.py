"""Export mechanics on a tiny network: output naming, generic structure, the export cache and the CLI."""
import json
import logging
import sys

import pytest
import torch

from panoptic_ros.export import cache as export_cache
from panoptic_ros.export import cached_export, export_model, export_onnx
from panoptic_ros.export.outputs import flatten_outputs, output_names, unflatten_outputs
from panoptic_ros.modeling import load_checkpoint
from panoptic_ros.runtime import RuntimeNotInstalled, load_runtime


def test_output_names_flatten_and_rebuild_any_layout():
    raw = {"semantic": torch.zeros(1), "levels": [torch.ones(1), torch.ones(2), torch.ones(3)], "extra": torch.ones(4)}
    names = output_names(raw)
    assert names == ["semantic", "levels_0", "levels_1", "levels_2", "extra"]
    rebuilt = unflatten_outputs(names, flatten_outputs(raw))
    assert list(rebuilt) == list(raw) and [t.numel() for t in rebuilt["levels"]] == [1, 2, 3]
    shuffled = unflatten_outputs(names[::-1], flatten_outputs(raw)[::-1])  # list items ordered by index
    assert [t.numel() for t in shuffled["levels"]] == [1, 2, 3]
    with pytest.raises(ValueError, match="must not end in _<digits>"):
        output_names({"p_3": torch.zeros(1)})
    with pytest.raises(ValueError, match="expected a tensor or a list of tensors"):
        output_names({"boxes": {"a": torch.zeros(1)}})


def test_export_and_runtimes_follow_whatever_the_network_returns(tiny_checkpoint, tmp_path, raw_diff, torch_raw):
    model = load_checkpoint(tiny_checkpoint)
    forward_raw = model.forward_raw

    def with_more_outputs(images, optional=None):  # another layout: an extra map and a list of 2
        raw = forward_raw(images, optional=optional)
        return {**raw, "depth": raw["semantic"][:, :1] * 2, "aux": [raw["offsets"] + 1, raw["offsets"] - 1]}

    model.forward_raw = with_more_outputs
    path = export_onnx(model, tmp_path / "more.onnx")
    images = torch.randn(1, 3, 128, 256)
    out = load_runtime(path, runtime="onnxruntime", device="cpu", precision="fp32")(images)
    assert list(out) == ["semantic", "offsets", "cls_logits", "box_regression", "centerness", "depth", "aux"]
    assert raw_diff(out, torch_raw(model, images)) < 1e-3


def _count_exports(monkeypatch):
    calls = []
    real = export_cache.export_model

    def counting(source, export_format, out, **options):
        calls.append(export_format)
        return real(source, export_format, out, **options)

    monkeypatch.setattr(export_cache, "export_model", counting)
    return calls


def test_cached_export_is_made_once_and_remade_when_corrupt(tiny_checkpoint, tmp_path, monkeypatch, caplog):
    calls = _count_exports(monkeypatch)
    first = cached_export(tiny_checkpoint, "onnx", tmp_path)
    mtime = first.stat().st_mtime_ns
    assert cached_export(tiny_checkpoint, "onnx", tmp_path) == first
    assert calls == ["onnx"] and first.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [first.parent.name]  # no temporary folder left behind

    data = first.read_bytes()
    first.write_bytes(data[: len(data) // 2])  # truncated
    with caplog.at_level(logging.WARNING, logger="panoptic_ros.export.cache"):
        again = cached_export(tiny_checkpoint, "onnx", tmp_path)
    assert calls == ["onnx", "onnx"] and again == first
    assert "unusable" in caplog.text and "exporting it again" in caplog.text
    assert again.read_bytes() != data[: len(data) // 2]
    load_runtime(again, runtime="onnxruntime", device="cpu", precision="fp32")(torch.randn(1, 3, 128, 128))


def test_cached_openvino_export_reuses_the_onnx_one(tiny_checkpoint, tmp_path, monkeypatch):
    calls = _count_exports(monkeypatch)
    xml = cached_export(tiny_checkpoint, "openvino", tmp_path)
    assert xml.suffix == ".xml" and xml.with_suffix(".bin").is_file()
    assert cached_export(tiny_checkpoint, "openvino", tmp_path) == xml
    assert cached_export(tiny_checkpoint, "onnx", tmp_path).is_file()
    assert calls == ["onnx", "openvino"]
    xml.with_suffix(".bin").unlink()  # a missing part is detected too
    assert cached_export(tiny_checkpoint, "openvino", tmp_path) == xml and calls[-1] == "openvino"


def test_cache_key_follows_the_checkpoint_and_a_failed_export_leaves_nothing(tiny_checkpoint, tmp_path,
                                                                             monkeypatch):
    import shutil

    other = tmp_path / "other" / tiny_checkpoint.name
    other.parent.mkdir()
    shutil.copy(tiny_checkpoint, other)
    side = json.loads(tiny_checkpoint.with_suffix(".json").read_text())
    side["config"]["inference"]["score_threshold"] = 0.55
    other.with_suffix(".json").write_text(json.dumps(side))
    cache = tmp_path / "cache"
    assert export_cache.export_key(other, "onnx") != export_cache.export_key(tiny_checkpoint, "onnx")
    assert export_cache.export_key(tiny_checkpoint, "onnx") != export_cache.export_key(tiny_checkpoint, "openvino")

    def broken(source, export_format, out):
        out.write_bytes(b"half")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(export_cache, "export_model", broken)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        cached_export(other, "onnx", cache)
    assert list(cache.iterdir()) == []


def test_export_model_rejects_wrong_suffixes_and_sources(tiny_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="written as .onnx"):
        export_model(tiny_checkpoint, "onnx", tmp_path / "model.xml")
    with pytest.raises(ValueError, match="unknown export format"):
        export_model(tiny_checkpoint, "tflite", tmp_path / "model.tflite")
    with pytest.raises(FileNotFoundError, match="model not found"):
        export_model(tmp_path / "missing.safetensors", "onnx", tmp_path / "model.onnx")


def test_cli_export_onnx_then_openvino(tiny_checkpoint, tmp_path, capsys):
    from panoptic_ros.cli.main import main

    onnx_path, xml = tmp_path / "out" / "tiny.onnx", tmp_path / "ir" / "tiny.xml"
    assert main(["export", "--model", str(tiny_checkpoint), "--format", "onnx", "--out", str(onnx_path)]) == 0
    assert main(["export", "--model", str(onnx_path), "--format", "openvino", "--out", str(xml)]) == 0
    assert onnx_path.is_file() and onnx_path.with_suffix(".json").is_file()
    assert xml.is_file() and xml.with_suffix(".bin").is_file() and xml.with_suffix(".json").is_file()
    assert "exported" in capsys.readouterr().out
    net = load_runtime(xml, runtime="openvino", device="cpu", precision="fp32")
    assert net.categories.names == ["disc", "box", "sky"]


@pytest.mark.parametrize("argv,message", [
    (["--format", "onnx", "--out", "{tmp}/model.xml"], "onnx exports are written as .onnx"),
    (["--model", "{tmp}/missing.safetensors", "--format", "onnx", "--out", "{tmp}/m.onnx"], "model not found"),
])
def test_cli_export_errors_are_one_line_exit_2(argv, message, tmp_path, capsys):
    from panoptic_ros.cli.main import main

    assert main(["export", *[a.format(tmp=tmp_path) for a in argv]]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_cli_export_without_openvino_names_the_package(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    from panoptic_ros.cli.main import main

    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(RuntimeNotInstalled):
        export_model(tiny_checkpoint, "openvino", tmp_path / "m.xml")
    assert main(["export", "--model", str(tiny_checkpoint), "--format", "openvino", "--out",
                 str(tmp_path / "m.xml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs the openvino package: pip install openvino==" in err and "\n" not in err
