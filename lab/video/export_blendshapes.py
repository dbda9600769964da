"""Export the Face Landmarker's blendshape model (`face_blendshapes.tflite` inside
`ml/video/data/face_landmarker.task`) to plain arrays for the numpy runtime
`ml/video/blendshape_mixer.py`, so Face Mesh's landmarks alone give Google's 52 blendshape
scores and the default bake needs one tracker instead of two.

The model is an MLP-Mixer over 146 landmarks (x, y in pixels): points centred and scaled
to unit mean norm, a token projection 146 -> 96 and a channel projection 2 -> 64, a class
token prepended, four mixer blocks (layer norm without bias, token MLP 97 -> 384 -> 97,
channel MLP 64 -> 256 -> 64, each residual), the class token -> 52 sigmoid scores. This
script walks the graph, checks each operator is where that architecture puts it, and
stores the weights (float16, as in the file; ~0.95 MB).

    python -m lab.video.export_blendshapes [--check]

`--check` compares the numpy runtime with the Face Landmarker's own scores on GRID frames.
Needs the `tflite` package (flatbuffer schema; lab only).
"""
from __future__ import annotations

import argparse
import json
import zipfile

import numpy as np

from ..paths import ROOT, SHARED_DATA

TASK = ROOT / "ml" / "video" / "data" / "face_landmarker.task"
OUT = ROOT / "ml" / "video" / "data" / "blendshape_mixer.npz"
ACTIVATIONS = {0: "none", 1: "relu", 3: "relu6"}


def _graph(buf: bytes):
    """The tflite graph as (ops [(name, inputs, outputs, activation)], value(tensor) -> array)."""
    import tflite
    model = tflite.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)
    names = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
    types = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
             tflite.TensorType.INT32: np.int32}
    consts: dict[int, np.ndarray] = {}
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        data = model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(data, np.ndarray) and data.size:
            shape = tuple(t.ShapeAsNumpy()) if t.ShapeLength() else ()
            consts[i] = np.frombuffer(data.tobytes(), types[t.Type()]).reshape(shape)
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        ins = [op.Inputs(j) for j in range(op.InputsLength())]
        outs = [op.Outputs(j) for j in range(op.OutputsLength())]
        act = "none"
        if name == "CONV_2D":
            opts = tflite.Conv2DOptions()
            table = op.BuiltinOptions()
            opts.Init(table.Bytes, table.Pos)
            act = ACTIVATIONS[opts.FusedActivationFunction()]
        if name == "DEQUANTIZE":  # float16 weights stored once, read as float32
            consts[outs[0]] = consts[ins[0]]
            continue
        ops.append((name, ins, outs, act))
    return ops, consts


def extract(buf: bytes) -> dict[str, np.ndarray]:
    """Named weights of the mixer; raises if the graph is not the expected architecture."""
    ops, consts = _graph(buf)
    convs = [(ins, act) for name, ins, _, act in ops if name == "CONV_2D"]
    if len(convs) != 19:
        raise ValueError(f"expected 19 projections, found {len(convs)}")

    def conv(k):
        (ins, act) = convs[k]
        w, b = consts[ins[1]], consts[ins[2]]
        return w.reshape(w.shape[0], -1), b, act

    out: dict[str, np.ndarray] = {}
    acts = []
    for name, k in (("token_in", 0), ("channel_in", 1), ("head", 18)):
        w, b, act = conv(k)
        out[f"{name}_w"], out[f"{name}_b"] = w, b
        acts.append(act)
    # Constants in graph order: the input scale, the class token, the norms' epsilon.
    muls = [ins for name, ins, _, _ in ops if name == "MUL"]
    out["input_scale"] = np.asarray(consts[muls[1][1]]).reshape(())
    concat = next(ins for name, ins, _, _ in ops if name == "CONCATENATION")
    out["class_token"] = consts[concat[0]].reshape(1, -1)
    adds = [ins for name, ins, _, _ in ops if name == "ADD"]
    out["norm_eps"] = np.asarray(consts[adds[0][1]]).reshape(())
    gammas = [consts[ins[1]] for ins in muls if ins[1] in consts and consts[ins[1]].shape == (64,)]
    if len(gammas) != 8:
        raise ValueError(f"expected 8 layer-norm scales, found {len(gammas)}")
    for blk in range(4):
        out[f"b{blk}_norm1"], out[f"b{blk}_norm2"] = gammas[2 * blk], gammas[2 * blk + 1]
        for j, part in enumerate(("token1", "token2", "channel1", "channel2")):
            w, b, act = conv(2 + 4 * blk + j)
            out[f"b{blk}_{part}_w"], out[f"b{blk}_{part}_b"] = w, b
            acts.append(act)
    out["activations"] = np.array(acts)
    return {k: (v.astype(np.float16) if v.dtype.kind == "f" else v) for k, v in out.items()}


def landmark_subset() -> np.ndarray:
    """The 146 Face Mesh landmark indices the model reads, in order (MediaPipe's graph)."""
    doc = json.loads((SHARED_DATA / "mediapipe" / "mediapipe_blendshape_names.json").read_text())
    return np.array(doc["landmark_subset_idxs_fed_to_blendshape_model"], dtype=np.int16)


def check() -> None:
    """The numpy mixer on the Face Landmarker's own landmarks against its own scores, and on
    Face Mesh's landmarks of the same frames, over the GRID clips."""
    from faceforge.ml.video.blendshape_mixer import BlendshapeMixer
    from faceforge.ml.video.landmarker import track_face
    mixer = BlendshapeMixer(dict(np.load(OUT)))
    for clip in sorted((SHARED_DATA / "video" / "grid").glob("*.mpg")):
        t = track_face(clip, two_trackers=True)
        ok = t.found
        own = mixer.scores(t.landmarks[ok], t.size)
        mesh = mixer.scores(t.mesh_landmarks[ok], t.size)
        ref = t.blendshapes[ok]
        print(f"{clip.name}: {ok.sum()} frames; max |numpy - Landmarker| on its landmarks "
              f"{np.abs(own - ref).max():.2e}; on Face Mesh's landmarks mean "
              f"{np.abs(mesh - ref).mean():.4f}, max {np.abs(mesh - ref).max():.3f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    with zipfile.ZipFile(TASK) as z:
        buf = z.read("face_blendshapes.tflite")
    arrays = extract(buf)
    arrays["landmarks"] = landmark_subset()
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT.relative_to(ROOT)}: {sum(v.size for k, v in arrays.items() if v.dtype == np.float16):,} "
          f"weights, activations {sorted(set(arrays['activations']))}, {OUT.stat().st_size:,} bytes")
    if args.check:
        check()


if __name__ == "__main__":
    main()
