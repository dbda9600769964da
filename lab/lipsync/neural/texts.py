"""English sentences for synthetic speech: prose from Python's bundled documentation
(`pydoc_data`), word-bigram sentences drawn from it, and random dictionary words (for
phonetic coverage). Never the evaluation clips' texts."""
from __future__ import annotations

import functools
import re

import numpy as np


@functools.lru_cache(maxsize=1)
def _corpus() -> tuple[list[str], dict[str, list[str]], list[str]]:
    """(plain sentences, bigram successors, dictionary words)."""
    import os
    import pocketsphinx
    import pydoc_data.topics
    text = re.sub(r"\s+", " ", " ".join(pydoc_data.topics.topics.values()))
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text)
                 if re.fullmatch(r"[A-Za-z ,;'-]+[.!?]", s) and 4 <= len(s.split()) <= 25]
    words = re.findall(r"[a-z']+|[.,;]", " ".join(sentences).lower())
    successors: dict[str, list[str]] = {}
    for a, b in zip(words[:-1], words[1:]):
        successors.setdefault(a, []).append(b)
    dict_path = os.path.join(pocketsphinx.get_model_path(), "en-us", "cmudict-en-us.dict")
    with open(dict_path) as f:
        vocab = [w for w in (line.split(" ", 1)[0] for line in f)
                 if re.fullmatch(r"[a-z]{2,10}", w)]
    return sentences, successors, vocab


def _bigram(rng: np.random.Generator, n: int) -> str:
    _, successors, _ = _corpus()
    keys = list(successors)
    word, out = keys[rng.integers(len(keys))], []
    for _ in range(n):
        out.append(word)
        nxt = successors.get(word)
        word = nxt[rng.integers(len(nxt))] if nxt else keys[rng.integers(len(keys))]
    return " ".join(out).replace(" ,", ",").replace(" .", ".").replace(" ;", ";")


def sentence(rng: np.random.Generator) -> str:
    """One sentence: prose 40%, bigram 40%, random words 20%."""
    sentences, _, vocab = _corpus()
    kind = rng.random()
    if kind < 0.4:
        return sentences[rng.integers(len(sentences))]
    if kind < 0.8:
        return _bigram(rng, int(rng.integers(4, 18))).capitalize() + "."
    words = [vocab[i] for i in rng.integers(len(vocab), size=int(rng.integers(3, 12)))]
    return " ".join(words).capitalize() + rng.choice([".", ",", "?", "!"])


def paragraph(rng: np.random.Generator) -> str:
    """One to three sentences."""
    return " ".join(sentence(rng) for _ in range(int(rng.integers(1, 4))))
