"""The reference implementations the tests and `panoptic bench tracking` compare with (requirements-reference.txt,
installed --no-deps by tools/setup.sh into .venv/reference). Their comparison tests skip when a package does not
import (a plain `pip install` of the package has none of them); under PANOPTIC_REQUIRE_REFERENCE=1 (set by
`make test`, hence CI) each must import at its pinned version, so those tests cannot silently stop running."""
import importlib
import importlib.metadata
import os
import re
from pathlib import Path

import pytest

REQUIRE_REFERENCE_ENV = "PANOPTIC_REQUIRE_REFERENCE"
PINS = Path(__file__).resolve().parents[1] / "requirements-reference.txt"
IMPORT_NAMES = {"lapx": "lap"}          # distribution -> module, where they differ


def pins() -> dict[str, str]:
    out = {}
    for line in PINS.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def test_the_reference_file_pins_each_package_once():
    found = pins()
    assert set(found) == {"trackeval", "boxmot", "filterpy", "lapx"}, found


@pytest.mark.parametrize("dist, version", sorted(pins().items()))
def test_reference_package_imports_at_its_pinned_version(dist, version):
    try:
        importlib.import_module(IMPORT_NAMES.get(dist, dist))
        installed = importlib.metadata.version(dist)
    except (ImportError, importlib.metadata.PackageNotFoundError) as exc:
        if os.environ.get(REQUIRE_REFERENCE_ENV, "") in ("", "0"):
            pytest.skip(f"{dist} not installed ({exc}): bash tools/setup.sh installs requirements-reference.txt")
        pytest.fail(f"{REQUIRE_REFERENCE_ENV}=1 but {dist} does not import: {exc} (bash tools/setup.sh installs "
                    "requirements-reference.txt into .venv/reference; tools/env.sh puts it on PYTHONPATH)")
    assert installed == version, f"{dist} {installed} installed, {version} pinned"
