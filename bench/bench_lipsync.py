"""Benchmark the lip-sync engines: speed of the neural engine against the phonetic engine
on the same audio in the same run, and the peak memory of a 10-minute WAV in a child
process (so the measurement holds only that job).

    python -m bench.bench_lipsync [--seconds 60] [--long-minutes 10]

The test audio loops the real speech in ../shared/data/speech into a temporary WAV.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from faceforge.ml.lipsync.audio import load_audio
from lab.lipsync.evaluate import DATA

ENGINES = ("neural", "phonetic", "phonetic-words", "hybrid", "energy")


def looped_speech(seconds: float, data: Path = DATA) -> np.ndarray:
    """All the speech clips in `data`, concatenated and repeated to `seconds` (16 kHz)."""
    clips = [load_audio(p)[0] for p in sorted(Path(data).glob("*.wav"))]
    one = np.concatenate(clips)
    return np.tile(one, int(np.ceil(seconds * 16000 / len(one))))[:int(seconds * 16000)]


def speed(samples: np.ndarray, fps: float = 30.0) -> dict[str, float]:
    """Realtime factor (audio seconds per compute second) of each engine, one process."""
    from faceforge.ml.lipsync.engine import lipsync
    lipsync(samples[:16000], 16000, fps, engine="neural")          # loads the weights
    out = {}
    for engine in ENGINES:
        start = time.perf_counter()
        lipsync(samples, 16000, fps, engine=engine)
        out[engine] = len(samples) / 16000 / (time.perf_counter() - start)
    return out


def child_peak_mb(wav: Path, engine: str | None) -> dict[str, float]:
    """Run one job in a fresh interpreter; its peak resident memory (MB, as the child itself
    reports it) and wall time. engine None only loads the audio (the interpreter and imports)."""
    code = ("import sys, time, resource; from faceforge.ml.lipsync.audio import load_audio;"
            "from faceforge.ml.lipsync.engine import lipsync; t = time.perf_counter();"
            "x, r = load_audio(sys.argv[1]);"
            + ("w = lipsync(x, r, 30.0, engine=sys.argv[2]).weights;" if engine else "")
            + "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    res = subprocess.run([sys.executable, "-c", code, str(wav), engine or ""],
                         capture_output=True, text=True, check=True)
    wall, peak_kb = res.stdout.split()[-2:]
    return {"peak_mb": int(peak_kb) / 1024, "wall_s": float(wall)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="audio for the speed test")
    p.add_argument("--long-minutes", type=float, default=10.0, help="WAV for the memory test")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    rtf = speed(looped_speech(args.seconds))
    print(f"speed on {args.seconds:g} s of speech (x realtime, one process):")
    for engine, value in rtf.items():
        ratio = value / rtf["phonetic"]
        print(f"  {engine:14s} {value:8.1f}x  ({ratio:.2f}x the phonetic engine)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "long.wav"
        sf.write(wav, looped_speech(args.long_minutes * 60), 16000, subtype="PCM_16")
        base = child_peak_mb(wav, None)
        neural = child_peak_mb(wav, "neural")
    print(f"{args.long_minutes:g}-minute WAV, peak resident memory of a child process:")
    print(f"  load audio only   {base['peak_mb']:7.0f} MB")
    print(f"  neural lip-sync   {neural['peak_mb']:7.0f} MB  ({neural['wall_s']:.1f} s, "
          f"{args.long_minutes * 60 / neural['wall_s']:.0f}x realtime incl. loading)")
    if args.json:
        args.json.write_text(json.dumps({"rtf": rtf, "load_only": base, "neural_long": neural},
                                        indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
