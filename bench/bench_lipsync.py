"""Benchmark the lip-sync engines: speed of every engine on the same audio in the same run,
a folder of short voice lines through one `faceforge lipsync` command (lines per minute;
with its lines shared with the chunk worker, the default, and in one process, as inside
Blender), and the peak memory of a 10-minute WAV in a child process (so the measurement
holds only that job).

    python -m bench.bench_lipsync [--seconds 60] [--long-minutes 10] [--lines 1000]

The test audio loops the real speech in ../shared/data/speech into a temporary WAV; the
voice lines (1-5 s each) are cut from it at random. Speeds are wall-clock realtime factors
on whatever share of the 2 cores the run gets, and CPU-time factors (CPU seconds of the
process and of the lip-sync chunk worker, `phonemes._ChunkWorker`), which other work on a
shared machine disturbs far less. The default engine decodes clips of several 30-s chunks
in two processes, so on idle cores its wall-clock factor is up to twice its CPU factor.
"""
from __future__ import annotations

import argparse
import json
import os
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
# Speed rows: name -> (engine, transcribe, one process, Whisper windows whole). The first is
# what `faceforge lipsync` runs in English where Whisper's weights are installed (as in the
# extension): the hybrid engine aligning Whisper's words (ops.lipsync.transcribe_by_default).
# "Windows whole": Whisper in numpy with whisper.CONTEXT_PAD None, as before short windows.
DEFAULT_ROW = "hybrid + Whisper (default)"
FULL_WINDOWS_ROW = "hybrid + Whisper, full 30 s windows"
# The default without the chunk worker, as inside Blender (where it never starts)
ONE_PROCESS_ROW = "hybrid + Whisper, one process"
WHISPER_ROWS = (DEFAULT_ROW, FULL_WINDOWS_ROW, ONE_PROCESS_ROW)
ROWS = {DEFAULT_ROW: ("hybrid", True, False, False),
        FULL_WINDOWS_ROW: ("hybrid", True, False, True),
        ONE_PROCESS_ROW: ("hybrid", True, True, False)} | {
    e: (e, False, False, False) for e in ENGINES} | {
    "hybrid, one process": ("hybrid", False, True, False)}


def looped_speech(seconds: float, data: Path = DATA) -> np.ndarray:
    """All the speech clips in `data`, concatenated and repeated to `seconds` (16 kHz)."""
    clips = [load_audio(p)[0] for p in sorted(Path(data).glob("*.wav"))]
    one = np.concatenate(clips)
    return np.tile(one, int(np.ceil(seconds * 16000 / len(one))))[:int(seconds * 16000)]


def worker_cpu() -> float:
    """CPU seconds the lip-sync chunk worker process has used (0 where none runs)."""
    from faceforge.ml.lipsync.phonemes import _ChunkWorker
    return _ChunkWorker.pool.submit(time.process_time).result() if _ChunkWorker.pool else 0.0


def worker_start() -> dict[str, float]:
    """What starting the chunk worker costs: wall seconds until a fresh one has loaded the
    models, and its CPU seconds for that (spawn, imports, decoders)."""
    from faceforge.ml.lipsync.phonemes import start_worker
    start = time.perf_counter()
    pool = start_worker()
    cpu = pool.submit(time.process_time).result()
    wall = time.perf_counter() - start
    pool.shutdown()
    return {"wall_s": wall, "cpu_s": cpu}


def speed(samples: np.ndarray, fps: float = 30.0) -> dict[str, dict[str, float]]:
    """Realtime factors (audio seconds per wall second, and per CPU second of this process
    and the chunk worker together) of each engine, one process, models (and the chunk
    worker) loaded before. "hybrid, one process": the default engine without the chunk
    worker (`phonemes.WORKERS_ENV` = "0")."""
    from faceforge.ml.lipsync.engine import lipsync
    from faceforge.ml.lipsync.phonemes import WORKERS_ENV
    from faceforge.ml.lipsync import whisper
    for engine in ENGINES:
        lipsync(samples[:16000], 16000, fps, engine=engine)        # loads the models
    lipsync(samples[:int(40 * 16000)], 16000, fps, engine="hybrid")  # starts the worker
    rows = dict(ROWS)
    if whisper.available():
        lipsync(samples[:16000], 16000, fps, transcribe=True)        # loads Whisper
        if whisper.backend() != "numpy":          # faster-whisper always encodes 30 s
            del rows[FULL_WINDOWS_ROW]
    else:
        for row in WHISPER_ROWS:
            del rows[row]
    out = {}
    seconds = len(samples) / 16000
    pad = whisper.CONTEXT_PAD
    for name, (engine, transcribe, one_process, whole_windows) in rows.items():
        if one_process:
            os.environ[WORKERS_ENV] = "0"
        if whole_windows:
            whisper.CONTEXT_PAD = None
        start, cpu, worker = time.perf_counter(), time.process_time(), worker_cpu()
        lipsync(samples, 16000, fps, engine=engine, transcribe=transcribe)
        out[name] = {"wall": seconds / (time.perf_counter() - start),
                     "cpu": seconds / (time.process_time() - cpu + worker_cpu() - worker)}
        os.environ.pop(WORKERS_ENV, None)
        whisper.CONTEXT_PAD = pad
    return out


def voice_lines(folder: Path, n: int, seed: int = 0) -> float:
    """`n` WAVs of 1-5 s cut at random from the looped speech; their total seconds."""
    speech = looped_speech(120)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0.0
    for i in range(n):
        length = int(rng.uniform(1.0, 5.0) * 16000)
        start = int(rng.integers(0, len(speech) - length))
        sf.write(folder / f"line_{i:04d}.wav", speech[start:start + length], 16000,
                 subtype="PCM_16")
        total += length / 16000
    return total


def folder_throughput(lines: int, engine: str, one_process: bool = False) -> dict[str, float]:
    """`lines` voice lines through one `faceforge lipsync HEAD FOLDER -o OUT` command (the
    built-in head; models and head loaded once): lines per minute over the whole command.
    `one_process`: without the chunk worker (WORKERS_ENV "0"), so no line is analysed
    beside another (`analysis.LinesAhead`), as inside Blender."""
    from faceforge.ml.lipsync.phonemes import WORKERS_ENV
    from bench.bench_batch import make_inputs, run_one
    from lab.paths import CHECKPOINTS
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CHECKPOINTS, prefix="bench_lipsync-") as tmp:
        root = Path(tmp)
        argv = make_inputs(root, 1, 0, 1.0)["lipsync"]         # the head, one stand-in line
        (root / "voices" / "line_00.wav").unlink()
        audio = voice_lines(root / "voices", lines)
        env = dict(os.environ) | ({WORKERS_ENV: "0"} if one_process else {})
        r = run_one(argv + ["--engine", engine], root / "out", env)
    return {"lines": r["ok"], "failed": r["failed"], "wall_s": r["wall"],
            "audio_s": audio, "lines_per_min": 60 * r["ok"] / r["wall"],
            "work_per_line_s": r["work"]}


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
    p.add_argument("--lines", type=int, default=1000,
                   help="voice lines (1-5 s) for the folder throughput; 0 skips it")
    p.add_argument("--lines-engine", default="hybrid", choices=ENGINES)
    p.add_argument("--lines-alone", action=argparse.BooleanOptionalAction, default=True,
                   help="also time the folder in one process, as inside Blender (default on)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    rtf = speed(looped_speech(args.seconds))
    print(f"speed on {args.seconds:g} s of speech (x realtime, one process; wall clock and "
          f"CPU time):")
    for engine, value in rtf.items():
        ratio = value["cpu"] / rtf["phonetic"]["cpu"]
        print(f"  {engine:36s} {value['wall']:8.1f}x wall {value['cpu']:8.1f}x CPU  "
              f"({ratio:.2f}x the phonetic engine's CPU speed)")
    start = worker_start()
    print(f"starting the chunk worker (clips of several chunks): {start['wall_s']:.1f} s wall, "
          f"{start['cpu_s']:.1f} s CPU in the worker")
    lines = {}
    for one_process in ((False, True) if args.lines_alone else (False,)) if args.lines else ():
        run = "one process" if one_process else "lines shared with the worker"
        lines[run] = r = folder_throughput(args.lines, args.lines_engine, one_process)
        print(f"folder of {args.lines} voice lines ({r['audio_s'] / 60:.1f} min of audio), "
              f"one command, engine {args.lines_engine}, {run}: {r['lines']} baked, "
              f"{r['failed']} failed in {r['wall_s']:.0f} s = "
              f"{r['lines_per_min']:.0f} lines per minute "
              f"(median work per line {r['work_per_line_s']:.2f} s)")
    base = neural = None
    if args.long_minutes > 0:
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
        args.json.write_text(json.dumps({"rtf": rtf, "worker_start": start, "load_only": base, "neural_long": neural,
                                         "lines": lines}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
