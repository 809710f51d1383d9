"""ruff (the version pinned in requirements.txt, configured by ruff.toml) reports nothing on panoptic_ros/ and test/:
style and the bug-prone patterns it knows are checked by the test suite rather than by each contributor's habits."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_the_installed_ruff_is_the_pinned_one():
    pins = re.findall(r"^ruff==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert len(pins) == 1, "requirements.txt must pin ruff exactly once"
    version = _ruff("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.split() == ["ruff", pins[0]], f"installed {version.stdout.strip()}, pinned {pins[0]}"


def test_ruff_reports_nothing():
    assert (ROOT / "ruff.toml").is_file()
    out = _ruff("check", "--no-cache", "--output-format", "concise", "panoptic_ros", "test")
    assert out.returncode == 0, f"ruff findings (fix them, or `ruff check --fix` for the safe ones):\n" \
                                f"{out.stdout[-6000:]}{out.stderr[-2000:]}"
