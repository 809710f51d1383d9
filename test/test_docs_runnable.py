"""Every shell block the README and docs/*.md mark as runnable runs as written (issue 20, "Docs that match what
happens").

A block is marked by an HTML comment on the line before its fence, invisible on GitHub:

    <!-- runnable [timeout=SECONDS] [sub="FROM=>TO; FROM2=>TO2"] -->
    ```bash
    panoptic synth --out runs/synth/val --num 100 --seed 2
    ```

Each block runs with bash -e -o pipefail in a fresh folder that looks like a clean clone (every top-level entry of
the repository linked in, except runs/ and the build and environment folders), with the `panoptic` of this
environment on PATH and the session's export cache. sub= shrinks a slow block's inputs for the test (e.g.
"--num 100=>--num 3"): the commands, flags and paths run as written, only on less data. Only fast commands are
marked; the slow ones (make demo, training, GPU recipes) are not.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARK = re.compile(r"^<!-- runnable(?P<attrs>.*?)-->\n```(?P<lang>[a-z]*)\n(?P<body>.*?)^```", re.M | re.S)
ATTR = re.compile(r'(\w+)=(?:"([^"]*)"|(\S+))')
NOT_LINKED = {".git", ".venv", ".ws", "runs", "build", "install", "log", "__pycache__", ".pytest_cache"}


def runnable_blocks(text: str) -> list[dict]:
    """The marked blocks of a markdown text: {line, lang, body, timeout, subs}."""
    blocks = []
    for m in MARK.finditer(text):
        attrs = {k: a if a else b for k, a, b in ATTR.findall(m["attrs"])}
        subs = [tuple(part.split("=>", 1)) for part in attrs.get("sub", "").split(";") if "=>" in part]
        blocks.append({"line": text.count("\n", 0, m.start()) + 2, "lang": m["lang"], "body": m["body"],
                       "timeout": float(attrs.get("timeout", 600)), "subs": [(a.strip(), b.strip()) for a, b in subs]})
    return blocks


def _cases():
    for doc in DOCS:
        for block in runnable_blocks(doc.read_text()):
            yield pytest.param(doc, block, id=f"{doc.relative_to(ROOT)}:{block['line']}")


CASES = list(_cases())


def test_blocks_are_found_and_are_shell():
    """The markers are not lost by an edit: the README keeps its runnable blocks, every one is a bash fence, and
    every sub= pattern occurs in its block (a renamed flag would otherwise silently run the full-size command)."""
    readme = [c for c in CASES if c.values[0].name == "README.md"]
    assert len(readme) >= 3, [c.id for c in CASES]
    for case in CASES:
        block = case.values[1]
        assert block["lang"] == "bash", case.id
        for old, _ in block["subs"]:
            assert old in block["body"], (case.id, old)


def test_marker_parser():
    text = ('x\n<!-- runnable timeout=5 sub="--num 100=>--num 2; a=>b" -->\n```bash\necho a --num 100\n```\n'
            "```bash\nnot marked\n```\n")
    (block,) = runnable_blocks(text)
    assert block == {"line": 3, "lang": "bash", "body": "echo a --num 100\n", "timeout": 5.0,
                     "subs": [("--num 100", "--num 2"), ("a", "b")]}


def clean_clone(folder: Path) -> Path:
    """folder with every top-level entry of the repository linked in, except outputs and environments."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in ROOT.iterdir():
        if entry.name not in NOT_LINKED:
            (folder / entry.name).symlink_to(entry)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("doc, block", CASES)
def test_runnable_block_runs_as_written(doc, block, tmp_path):
    script = block["body"]
    for old, new in block["subs"]:
        script = script.replace(old, new)
    cwd = clean_clone(tmp_path / "clone")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=block["timeout"])
    assert proc.returncode == 0, f"{doc.name}:{block['line']} exited {proc.returncode}:\n{script}\n" \
                                 f"--- output (last 3000 characters) ---\n{proc.stdout[-3000:]}"
