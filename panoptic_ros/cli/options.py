"""The one command-line convention of `panoptic`: settings come from the config, never from per-key flags.

Every command that takes settings accepts the same three things (as detectron2's ``opts``):

    panoptic CMD [--config FILE] [--policy P --device D ...] [section.name=value ...]

- ``--config FILE``: a YAML file with any subset of the sections (panoptic_ros/configs/*.yaml, a run's config.yaml);
- ``section.name=value`` overrides (trailing positionals, values parsed as YAML: ``solver.lr_steps=[3,4]``);
- short flags, only for the settings changed most often; each is just another name for one config key
  (SHORT_FLAGS) and is checked against that field's choices (registries included, so a plug-in policy is
  accepted by ``--policy`` without touching the CLI).

Precedence, lowest first: the command's base config (the defaults, or the checkpoint's own config for eval and
predict), the file, the overrides, the short flags. Everything is converted to a PanopticConfig (or a dict of
keys) here, at the CLI boundary: library functions never receive the argparse Namespace.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from panoptic_ros.config import ConfigError, PanopticConfig, parse_override, read_config_file, set_value
from panoptic_ros.modeling.shipped import is_shipped_model, shipped_model_note
from panoptic_ros.registry import Choices

log = logging.getLogger(__name__)

# short flag -> the config key it sets
SHORT_FLAGS = {
    "model": "node.model",
    "policy": "inference.merge_policy",
    "runtime": "inference.runtime",
    "precision": "inference.precision",
    "device": "inference.device",
    "threads": "inference.num_threads",
}


def config_field(key: str) -> dataclasses.Field:
    """The dataclass field of ``section.name``."""
    section, name = key.split(".")
    sub = getattr(PanopticConfig(), section)
    return {f.name: f for f in dataclasses.fields(sub)}[name]


def _with_extra(choices: Any, extra: tuple[str, ...]) -> Any:
    """Field choices plus command-specific extra values (e.g. eval's ``--policy all``), still read lazily."""
    if not extra:
        return choices
    if isinstance(choices, Choices):
        return Choices(choices.registry, tuple(extra) + choices.extra)
    return tuple(extra) + tuple(choices)


def add_config_options(parser: argparse.ArgumentParser, *, flags: Sequence[str] = (),
                       extra_choices: dict[str, Iterable[str]] | None = None,
                       flag_help: dict[str, str] | None = None) -> None:
    """Add ``--config FILE``, the given short flags (names of SHORT_FLAGS) and the trailing overrides.

    extra_choices: values a flag accepts beyond the field's choices; they are left to the command (not written
    to the config). flag_help: text replacing a flag's default help (the field's help text).
    """
    extra_choices = {k: tuple(v) for k, v in (extra_choices or {}).items()}
    group = parser.add_argument_group("settings (see README \"Configuration\")")
    group.add_argument("--config", metavar="FILE",
                       help="YAML config: any subset of the sections model/data/loss/solver/inference/node")
    for flag in flags:
        key = SHORT_FLAGS[flag]
        f = config_field(key)
        choices = f.metadata.get("choices")
        if choices is not None:
            choices = _with_extra(choices, extra_choices.get(flag, ()))
        text = (flag_help or {}).get(flag) or f.metadata["help"]
        group.add_argument(f"--{flag}", default=None, choices=choices, metavar=flag.upper(),
                           help=f"[{key}] {text}" + ("; one of %(choices)s" if choices is not None else ""))
    parser.add_argument("overrides", nargs="*", default=[], metavar="section.name=value",
                        help="config overrides after the options, e.g. inference.score_threshold=0.3 "
                             "inference.input_size=320")
    parser.set_defaults(_config_flags=tuple(flags), _config_extra=extra_choices)


def config_entries(args: argparse.Namespace, sections: Sequence[str] | None = None) -> dict[str, Any]:
    """The settings given on the command line, validated and typed: {section.name: value}, later sources first
    overwritten by later ones (file < overrides < short flags).

    sections: the config sections the command uses; keys of other sections in the file are skipped (a training
    config can be reused), but an explicit override of one is an error (it would be silently ignored).
    """
    entries: list[tuple[str, Any, str]] = []
    if getattr(args, "config", None):
        for section, values in read_config_file(args.config).items():
            for name, value in values.items():
                entries.append((f"{section}.{name}", value, "file"))
    for item in getattr(args, "overrides", None) or []:
        entries.append((*parse_override(item), "override"))
    extra = getattr(args, "_config_extra", {}) or {}
    for flag in getattr(args, "_config_flags", ()):
        value = getattr(args, flag, None)
        if value is not None and value not in extra.get(flag, ()):
            entries.append((SHORT_FLAGS[flag], value, f"--{flag}"))

    scratch = PanopticConfig()
    out: dict[str, Any] = {}
    for key, value, source in entries:
        section = key.split(".", 1)[0]
        if sections is not None and section not in sections and hasattr(scratch, section):
            if source == "file":
                continue
            raise ConfigError(f"{key}: this command only reads the {', '.join(sections)} section(s)")
        set_value(scratch, key, value)  # validates (unknown key, type, choices, range) and coerces
        out[key] = _get(scratch, key)
    return out


def apply_entries(cfg: PanopticConfig, entries: dict[str, Any]) -> PanopticConfig:
    """A copy of cfg with the entries set (validated again against cfg's fields)."""
    cfg = copy.deepcopy(cfg)
    for key, value in entries.items():
        set_value(cfg, key, value)
    return cfg


def config_from_args(args: argparse.Namespace, base_cfg: PanopticConfig | None = None,
                     sections: Sequence[str] | None = None) -> PanopticConfig:
    """base_cfg (default: the schema defaults) with the command line's settings applied; base_cfg is not changed."""
    return apply_entries(base_cfg if base_cfg is not None else PanopticConfig(), config_entries(args, sections))


def check_model_path(model: str | None) -> None:
    """A checkpoint's .json sidecar (a .json with its .safetensors beside it) given as the model: one line naming the
    file to give instead. Other .json files are left to the loader (test factories load from one)."""
    if not model or not str(model).endswith(".json"):
        return
    weights = Path(str(model)[: -len(".json")] + ".safetensors")
    if weights.is_file():
        raise ValueError(f"--model {model}: that is a checkpoint's sidecar (config and classes), not a model: give "
                         f"{weights} (or an .onnx / OpenVINO .xml export)")


def check_dataset_folder(data: str | Path, flag: str = "--data") -> Path:
    """A dataset folder in COCO panoptic layout (DIR/panoptic.json, DIR/images/, DIR/panoptic/), or a one-line error
    saying what the folder must hold (and the parent when the user gave DIR/images or DIR/panoptic)."""
    data = Path(data)
    if not data.is_dir():
        raise FileNotFoundError(f"{flag} {data}: dataset folder not found")
    if (data / "panoptic.json").is_file():
        return data
    hint = (f"; did you mean {flag} {data.parent}?" if (data.parent / "panoptic.json").is_file() else
            " (`panoptic synth --out DIR` writes one; `panoptic prepare coco|cityscapes` converts a download)")
    raise FileNotFoundError(f"{flag} {data}: no panoptic.json there: {flag} is the dataset folder holding "
                            f"panoptic.json, images/ and panoptic/ (COCO panoptic layout){hint}")


def _get(cfg: PanopticConfig, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def pipeline_from_args(args: argparse.Namespace, sections: Sequence[str] = ("inference", "node")):
    """The model named on the command line (node.model / --model; default: the shipped model) as an inference
    pipeline, and its config with the command line's settings applied -> (pipeline, PanopticConfig).

    Runtime, precision, device and export cache come from the command line when given, else the pipeline's
    defaults (auto); the remaining inference settings default to the checkpoint's own. The pipeline is built with
    the command line's inference settings (its merge policy above all), so runtime auto picks a runtime that runs
    the requested policy.
    """
    from panoptic_ros.pipeline import build_pipeline

    entries = config_entries(args, sections)
    check_model_path(entries.get("node.model"))
    inference = {key.split(".", 1)[1]: value for key, value in entries.items() if key.startswith("inference.")}
    pipeline = build_pipeline(entries.get("node.model") or None, device=entries.get("inference.device"),
                              runtime=entries.get("inference.runtime"), precision=entries.get("inference.precision"),
                              cache_dir=entries.get("inference.export_cache"), overrides=inference)
    if is_shipped_model(entries.get("node.model")):
        log.info("%s", shipped_model_note(pipeline.categories))
    return pipeline, apply_entries(pipeline.cfg, entries)
