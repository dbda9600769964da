"""A synthetic evaluation set in another language with exact phone times: sentences spoken by
espeak-ng's voices for that language (several variants, speeds and pitches, fixed seed), the
synthesiser's phoneme events mapped to ARPAbet by the runtime's one table (`ml/lipsync/ipa.py`).

    python -m lab.lipsync.language_set --language es      # 30 Spanish clips, ~3 min audio

Writes `<clip>.wav`, `<clip>.txt` and `<clip>.phone.json` (the test set's format, read by
`evaluate.test_clips`) to `checkpoints/lipsync_lang/<language>/`; existing clips are kept.
Phonemes the table cannot map are counted and printed (they would be silence in the
reference). espeak-ng's formant voices are not human speech: pocketsphinx mishears them
more than people, and the neural engine learnt from English voices of the same synthesiser.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

from faceforge.ml.lipsync import espeak
from faceforge.ml.lipsync.audio import resample
from faceforge.ml.lipsync.ipa import ipa_to_arpabet
from faceforge.ml.lipsync.phones import SIL, merge_silence
from ..paths import CHECKPOINTS

RATE = 16000
PAD_S = 0.3
SEED = 17
OUT = CHECKPOINTS / "lipsync_lang"
VARIANTS = ("", "+m1", "+m3", "+f1", "+f2", "+f4", "+klatt", "+klatt3")
# Sentences written for this set (no outside text): every vowel, b/v between vowels
# (espeak's β), p b m at word starts and ends, ñ ll rr j, and commas for short pauses.
SENTENCES = {
    "es": (
        "El perro de mi abuela come pan y bebe agua fría.",
        "¿Dónde está la llave de la puerta principal?",
        "Mañana por la mañana vamos a comprar manzanas en el mercado.",
        "Pablo, el primo de Beatriz, vive en una cabaña de madera.",
        "Me gusta mucho la música, pero prefiero el silencio.",
        "Los niños juegan en el parque hasta que empieza a llover.",
        "Hoy hace buen tiempo, así que podemos pasear por la playa.",
        "Mi madre prepara una sopa de tomate muy buena.",
        "El tren a Barcelona sale a las ocho y media.",
        "No sé si vendrá, porque ayer estaba muy cansado.",
        "La biblioteca abre los lunes, los miércoles y los viernes.",
        "Ramón bebió un vaso de vino blanco con la comida.",
        "El mapa del museo muestra tres pisos de pinturas.",
        "Buenos días, ¿me puede ayudar con esta maleta?",
        "El barco navega despacio entre las olas del mar.",
        "Compramos pimientos, patatas y un poco de jamón.",
        "Quiero aprender a tocar la guitarra este verano.",
        "El médico me dijo que tomara más agua y menos café.",
        "En invierno, la montaña se cubre de nieve blanca.",
        "Ella escribe cartas a su hermano cada semana.",
        "Paloma y Miguel bailaron toda la noche en la boda.",
        "El gato duerme encima de la mesa del comedor.",
        "Por favor, cierra la ventana, que hace frío.",
        "Mi hermano pequeño siempre pide más postre.",
        "Las ciudades grandes tienen mucho ruido y poco espacio.",
        "Vamos a ver una película de miedo esta noche.",
        "El profesor explicó el problema paso a paso.",
        "Bebimos limonada bajo la sombra de un árbol.",
        "Ayer perdí mi paraguas en el autobús.",
        "La lluvia de primavera hace crecer las flores del campo.",
    ),
    "de": (
        "Ich möchte zwei Brötchen mit Käse, bitte.",
        "Die schöne Pfanne steht über dem Herd.",
        "Morgen früh fahren wir mit dem Zug nach München.",
        "Mein Bruder spielt jeden Abend Klavier.",
        "Bitte mach das Fenster zu, es ist kalt.",
        "Wir haben im Sommer am Meer gebadet.",
        "Das Buch liegt auf dem Tisch neben der Lampe.",
        "Meine Mutter backt einen Apfelkuchen für uns.",
        "Am Montag beginnt die Schule um acht Uhr.",
        "Der Hund bellt, wenn der Postbote kommt.",
        "Peter und Maria wohnen in einem kleinen Haus.",
        "Im Winter fällt hier sehr viel Schnee.",
        "Kannst du mir bitte das Salz geben?",
        "Die Blumen im Garten blühen schon seit Mai.",
        "Wir trinken Kaffee und essen ein Stück Torte.",
        "Mein Vater arbeitet in einer großen Bäckerei.",
        "Der Ball rollt langsam über die grüne Wiese.",
        "Heute Abend gehen wir ins Kino.",
        "Das Wetter ist schön, also gehen wir spazieren.",
        "Bernd hat seinen Schlüssel im Büro vergessen.",
    ),
}
VOICES = {"es": ("es", "es-419"), "de": ("de",)}


def reference(phones) -> dict:
    """Phones in the test set's `.phone.json` layout: one word per phone (t, b, d)."""
    return {"w": [{"t": p.label, "b": round(p.start, 4), "d": round(p.end - p.start, 4)}
                  for p in phones]}


def make(language: str, out: Path, seed: int = SEED) -> Counter:
    """Write the set; returns the unmapped phoneme names (empty when the table covers all)."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    unmapped: Counter = Counter()
    for i, text in enumerate(SENTENCES[language]):
        voice = rng.choice(VOICES[language]) + rng.choice(VARIANTS)
        wpm, pitch = int(rng.integers(140, 210)), int(rng.integers(25, 75))
        stem = out / f"{language}-{i:02d}"
        if stem.with_suffix(".wav").exists():
            continue
        x, rate, phones = espeak.speak(text, voice, rate=wpm, pitch=pitch)
        lib, _, collector = espeak._library()
        unmapped.update(n for _, n in collector.events if n and not ipa_to_arpabet(n))
        pad = np.zeros(int(PAD_S * RATE), np.float32)
        samples = np.concatenate([pad, resample(x, rate, RATE), pad])
        phones = merge_silence([p._replace(start=p.start + PAD_S, end=p.end + PAD_S)
                                for p in phones], len(samples) / RATE)
        sf.write(stem.with_suffix(".wav"), samples, RATE, subtype="PCM_16")
        stem.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
        Path(f"{stem}.phone.json").write_text(json.dumps(reference(phones)))
        spoken = sum(p.end - p.start for p in phones if p.label != SIL)
        print(f"{stem.name}: {voice} {wpm} wpm, {len(samples) / RATE:.1f} s, "
              f"{spoken:.1f} s of phones", flush=True)
    return unmapped


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--language", choices=sorted(SENTENCES), default="es")
    p.add_argument("--out", type=Path, help=f"default {OUT}/<language>")
    args = p.parse_args(argv)
    unmapped = make(args.language, args.out or OUT / args.language)
    print("unmapped phonemes:", dict(unmapped) or "none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
