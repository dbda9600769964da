"""Write the bundled demo utterance: a ~3 s English sentence spoken by espeak-ng, as a
small 16 kHz mono 16-bit WAV with its transcript.

    python -m lab.lipsync.make_demo_utterance [--out ml/lipsync/data]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import soundfile as sf

from faceforge.ml.lipsync.audio import resample
from ..paths import ROOT
from faceforge.ml.lipsync import espeak

TEXT = "Hello there! My lips move with every word I speak."
VOICE, WPM, PITCH = "en-us+m1", 165, 45
OUT = ROOT / "ml" / "lipsync" / "data"   # shipped with the extension (the demo command)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    samples, rate, _ = espeak.speak(TEXT, VOICE, rate=WPM, pitch=PITCH)
    samples = resample(samples, rate, 16000)
    args.out.mkdir(parents=True, exist_ok=True)
    sf.write(args.out / "demo_utterance.wav", samples, 16000, subtype="PCM_16")
    (args.out / "demo_utterance.txt").write_text(TEXT + "\n")
    print(f"{args.out / 'demo_utterance.wav'}: {len(samples) / 16000:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
