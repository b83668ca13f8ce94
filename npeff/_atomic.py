"""Atomic writes: an interrupted job never leaves an output that looks complete."""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a hidden temporary path beside `path` (same extension, so writers that infer the
    format from it still can); rename it to `path` when the block succeeds, remove it when the
    block fails. Works for files and folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    # a writer killed with SIGKILL never ran its cleanup below; one job owns an output at a
    # time, so any other temporary of this output is such a leftover
    for stale in path.parent.glob(f".{path.stem}.tmp-*{path.suffix}"):
        if stale == tmp:
            continue
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink(missing_ok=True)
    try:
        yield tmp
        if tmp.is_dir() and path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp)
        elif tmp.exists():
            tmp.unlink()
