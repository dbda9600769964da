"""Shipped models load once per process and weights file (ml/model_cache.py)."""
import numpy as np

from faceforge.ml import model_cache
from faceforge.ml.autorig.runtime import AutoRigRuntime
from faceforge.ml.emotion import EmotionModel
from faceforge.ml.lipsync.neural import runtime as lipnet
from faceforge.ml.video.regressor import load_regressor


def test_each_model_is_read_once_and_reused(monkeypatch):
    model_cache.clear()
    reads = []
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: reads.append(a[0]) or real_load(*a, **k))
    first = (AutoRigRuntime.cached(), EmotionModel.cached(), lipnet.load(), load_regressor())
    second = (AutoRigRuntime.cached(), EmotionModel.cached(), lipnet.load(), load_regressor())
    assert all(a is b for a, b in zip(first, second))
    assert len(reads) == 4, reads


def test_another_weights_file_is_another_model(tmp_path):
    model_cache.clear()
    copy = tmp_path / "copy.npz"
    copy.write_bytes(lipnet.WEIGHTS.read_bytes())
    assert lipnet.load(copy) is not lipnet.load()
    assert lipnet.load(str(copy)) is lipnet.load(copy)
