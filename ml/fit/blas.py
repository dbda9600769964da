"""Single-threaded BLAS for the fit's one-face matrix products: OpenBLAS's thread pool
costs more than it saves on [1, 256] x [256, 471] products (on a busy 2-core machine,
~1.5 ms instead of ~10 us each). Like threadpoolctl, through the loaded library's own
openblas_set_num_threads; a no-op where numpy uses another BLAS or the OS has no /proc."""
from __future__ import annotations

import ctypes
import functools
from contextlib import contextmanager


@functools.lru_cache(maxsize=1)
def _openblas():
    """(get, set) thread-count functions of the OpenBLAS numpy loaded, or None."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ("", "64_"):
            for prefix in ("", "scipy_"):
                get = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    return get, put
    return None


@contextmanager
def single_thread():
    """Run the block with one BLAS thread, then restore the previous count."""
    funcs = _openblas()
    if funcs is None:
        yield
        return
    get, put = funcs
    before = get()
    put(1)
    try:
        yield
    finally:
        put(before)
