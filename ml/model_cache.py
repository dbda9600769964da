"""The one way shipped models are loaded: once per process and weights file, then reused
by every call (a batch of 1,000 files reads each model once)."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

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


def read_arrays(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """Every array of the .npz weights file at `path`; FileNotFoundError naming `what`
    (e.g. "FACS regressor weights") when it is missing."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def clear() -> None:
    """Forget every loaded model (tests; a weights file replaced on disk)."""
    with _LOCK:
        _MODELS.clear()
