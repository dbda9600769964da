"""The one way shipped models are loaded: once per process and weights file, then reused
by every call (a batch of 1,000 files reads each model once)."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")

_LOCK = threading.Lock()
_MODELS: dict[tuple[str, str], object] = {}


def cached_model(kind: str, path: str | Path, read: Callable[[Path], T]) -> T:
    """`read(path)` the first time (kind, resolved path) is asked for, the same object after."""
    key = (kind, str(Path(path).resolve()))
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = read(Path(path))
        return _MODELS[key]  # type: ignore[return-value]


def clear() -> None:
    """Forget every loaded model (tests; a weights file replaced on disk)."""
    with _LOCK:
        _MODELS.clear()
