"""Read a CTranslate2 `model.bin` into float32 numpy arrays, without ctranslate2.

The format (ctranslate2/specs/model_spec.py, `_serialize`): little-endian
u32 binary version, string spec name, u32 revision, u32 variable count, then per variable
string name, u8 rank, u32 dims, u8 dtype (0 float32, 1 int8, 2 int16, 3 int32,
4 float16, 5 bfloat16), u32 byte count, the bytes; then u32 alias count and (alias,
target) string pairs. A string is a u16 length (NUL included), the UTF-8 bytes and a NUL.
Quantised weights carry a sibling `<name>_scale` (int8: per row, `w = q / scale`;
int16: one scale) and are dequantised here."""
from __future__ import annotations

import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np

DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, None)  # None: bfloat16
MAX_VERSION = 6


class Weights(NamedTuple):
    """A parsed model: spec name and revision, float32 arrays by name (scalars as 0-d
    arrays of their own dtype; aliases point at the same array)."""
    spec: str
    revision: int
    arrays: dict[str, np.ndarray]


def _bfloat16(raw: bytes, shape) -> np.ndarray:
    bits = np.frombuffer(raw, np.uint16).astype(np.uint32) << 16
    return bits.view(np.float32).reshape(shape)


def read(path: str | Path) -> Weights:
    """Every variable of the CTranslate2 model file at `path`, weights dequantised to
    float32. ValueError for a file that is not one (or a newer format)."""
    buf = memoryview(Path(path).read_bytes())
    pos = 0

    def take(fmt: str):
        nonlocal pos
        value = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return value[0] if len(value) == 1 else value

    def string() -> str:
        nonlocal pos
        n = take("H")
        text = bytes(buf[pos:pos + n - 1]).decode("utf-8")
        pos += n
        return text

    try:
        version = take("I")
        if not 1 <= version <= MAX_VERSION:
            raise ValueError(f"{path}: not a CTranslate2 model (binary version {version})")
        spec = string() if version >= 2 else ""
        revision = take("I") if version >= 2 else 1
        raw: dict[str, np.ndarray] = {}
        for _ in range(take("I")):
            name = string()
            shape = tuple(take("I") for _ in range(take("B")))
            dtype_id = take("B") if version >= 2 else 0
            nbytes = take("I")
            data = bytes(buf[pos:pos + nbytes])
            pos += nbytes
            if dtype_id >= len(DTYPES):
                raise ValueError(f"{path}: unknown dtype {dtype_id} for {name}")
            raw[name] = (_bfloat16(data, shape) if DTYPES[dtype_id] is None
                         else np.frombuffer(data, DTYPES[dtype_id]).reshape(shape))
        aliases = [(string(), string()) for _ in range(take("I"))] if version >= 3 else []
    except struct.error as exc:
        raise ValueError(f"{path}: truncated CTranslate2 model file") from exc
    arrays: dict[str, np.ndarray] = {}
    for name, value in raw.items():
        if name.endswith("_scale") and name[:-len("_scale")] in raw:
            continue
        scale = raw.get(name + "_scale")
        if scale is not None and value.dtype in (np.int8, np.int16):
            scale = scale.astype(np.float32)
            per_row = scale.reshape((-1,) + (1,) * (value.ndim - 1)) if scale.ndim else scale
            value = value.astype(np.float32) / per_row
        elif value.ndim and value.dtype != np.float32 and value.dtype.kind == "f":
            value = value.astype(np.float32)
        arrays[name] = value
    for alias, target in aliases:
        arrays[alias] = arrays[target]
    return Weights(spec, revision, arrays)
