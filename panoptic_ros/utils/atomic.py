"""Crash-safe file writes (checkpoints, reports, logs): write to a temporary name in the same folder, fsync, rename.

A crash or power loss mid-write then leaves either the old file or the complete new one under the final name,
never a truncated file next to a valid sidecar (os.replace is atomic within one file system; the folder is
fsynced so the rename itself survives a power loss).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def fsync_file(path: str | Path) -> None:
    """Flush a written file's data to the disk."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(path: str | Path) -> None:
    """Flush a folder's entries (renames) to the disk; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def staged_files(finals: Sequence[str | Path]) -> Iterator[list[Path]]:
    """Write several files that belong together: yields temporary paths (same names, in a hidden folder next to
    the first final path); when the block ends without error each is fsynced and renamed to its final path in
    the given order (put the file that marks the set complete last). On an error nothing is renamed and the
    temporary folder is removed."""
    finals = [Path(p) for p in finals]
    folder = finals[0].parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".partial-{finals[0].stem}-", dir=folder))
    try:
        staged = [tmp / p.name for p in finals]
        yield staged
        for p in staged:
            if not p.is_file():
                raise FileNotFoundError(f"staged write did not produce {p.name}")
            fsync_file(p)
        for p, final in zip(staged, finals):
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, final)
        for d in {final.parent for final in finals}:
            fsync_dir(d)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_copy(src: str | Path, dst: str | Path) -> Path:
    """Copy src to dst through a temporary file + fsync + rename (dst is never half-written)."""
    dst = Path(dst)
    with staged_files([dst]) as (tmp,):
        shutil.copyfile(src, tmp)
    return dst


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write text through a temporary file next to path + fsync + rename (path is never half-written; a tool that
    rewrites its report while it runs keeps the previous one when killed mid-write)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path
