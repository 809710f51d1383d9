"""Test-only launcher: panoptic_node with a test model (production code has no switch that loads other code).

    python node_with_test_model.py [--factory module:function] [--default-model PATH] [--lifecycle] --ros-args ...

--factory: function(path, device) -> model (predict(images, inference=), categories), imported from this
folder (e.g. panoptic_test_stub_model:load, bag_oracle_model:load); the module's check(path, device), when it
has one, is the fast check of a parameter change (else only the device is checked).
--default-model: where the shipped model is looked for (to test start-up without it).
--lifecycle: start the managed node (panoptic_ros.ros.node.lifecycle.main) instead.
The rest of the command line goes to panoptic_ros.ros.node.main unchanged.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from panoptic_ros.ros.exit_signals import guarded, install_early  # noqa: E402

install_early()   # as the installed executables: a signal during the imports below is a clean exit


class FactoryLoader:
    """model_loading's loader interface over a test factory function(path, device)."""

    def __init__(self, spec: str):
        module_name, _, func = spec.partition(":")
        self.module = importlib.import_module(module_name)
        self.factory = getattr(self.module, func)

    def check(self, values: dict) -> None:
        check = getattr(self.module, "check", None)
        if check is not None:
            check(values["model"], values["device"])
        else:
            from panoptic_ros.modeling import resolve_device
            resolve_device(values["device"])

    def load(self, values: dict):
        return self.factory(values["model"], values["device"])


def take_option(argv: list[str], name: str) -> str | None:
    """Remove `name VALUE` from argv (before --ros-args) and return VALUE."""
    end = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    if name in argv[:end]:
        i = argv.index(name)
        value = argv[i + 1]
        del argv[i:i + 2]
        return value
    return None


def run(argv: list[str]) -> int:
    argv = list(argv)
    factory = take_option(argv, "--factory")
    default_model = take_option(argv, "--default-model")
    end = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    lifecycle = "--lifecycle" in argv[:end]
    if lifecycle:
        argv.remove("--lifecycle")
    if default_model is not None:
        import panoptic_ros.modeling

        panoptic_ros.modeling.default_model_path = lambda: Path(default_model)
    if lifecycle:
        from panoptic_ros.ros.node.lifecycle import main
    else:
        from panoptic_ros.ros.node import main

    return main(argv, model_loader=FactoryLoader(factory) if factory else None)


if __name__ == "__main__":
    sys.exit(guarded(lambda: run(sys.argv)))    # as the installed executables (exit_signals.start)
