"""The auto-rig network: torch (training) and numpy (Blender) forward passes agree, and
the global encoder carries information between disconnected parts."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lab.autorig.model import AutoRigNet, MeshTensors, NetConfig, sparse_tensor
from faceforge.ml.autorig.runtime import AutoRigRuntime


def _random_mesh_inputs(rng, v=60, k=8, c=22):
    grad_x = sp.random(v, v, density=0.05, random_state=1, format="csr", dtype=np.float32)
    grad_y = sp.random(v, v, density=0.05, random_state=2, format="csr", dtype=np.float32)
    return dict(features=rng.normal(size=(v, c)).astype(np.float32),
                mass=rng.uniform(0.5, 1.5, v).astype(np.float32),
                evals=np.sort(rng.uniform(0, 5, k)).astype(np.float32),
                evecs=rng.normal(size=(v, k)).astype(np.float32) / np.sqrt(v),
                grad_x=grad_x, grad_y=grad_y)


def _tensors(d):
    return MeshTensors(features=torch.from_numpy(d["features"]), mass=torch.from_numpy(d["mass"]),
                       evals=torch.from_numpy(d["evals"]), evecs=torch.from_numpy(d["evecs"]),
                       grad_x=sparse_tensor(d["grad_x"]), grad_y=sparse_tensor(d["grad_y"]))


@pytest.fixture
def net():
    torch.manual_seed(0)
    model = AutoRigNet(NetConfig(width=16, blocks=2, global_width=8, k_eig=8, fourier=3))
    with torch.no_grad():  # non-trivial diffusion times and output scale
        for b in model.blocks:
            b.diffusion.log_time.uniform_(-2, 1)
    return model


def test_numpy_runtime_matches_torch(net):
    d = _random_mesh_inputs(np.random.default_rng(0))
    with torch.no_grad():
        ref = net(_tensors(d)).numpy()
    got = AutoRigRuntime(net.export())(**d)
    assert got.shape == (60, 52, 3)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_export_round_trips_through_npz(net, tmp_path):
    np.savez(tmp_path / "w.npz", **net.export())
    d = _random_mesh_inputs(np.random.default_rng(1))
    a = AutoRigRuntime(net.export())(**d)
    b = AutoRigRuntime.load(tmp_path / "w.npz")(**d)
    np.testing.assert_array_equal(a, b)


def test_global_encoder_reaches_disconnected_parts(net):
    """Two parts with block-diagonal operators: changing part B's features changes part A's
    output only through the global code."""
    rng = np.random.default_rng(2)
    d = _random_mesh_inputs(rng)
    half = 30
    block = sp.block_diag([sp.eye(half), sp.eye(half)], format="csr", dtype=np.float32)
    d["grad_x"] = d["grad_y"] = block
    evecs = np.zeros((60, 8), np.float32)
    evecs[:half, :4] = rng.normal(size=(half, 4))
    evecs[half:, 4:] = rng.normal(size=(half, 4))
    d["evecs"] = evecs
    rt = AutoRigRuntime(net.export())
    a = rt(**d)
    d2 = dict(d, features=d["features"].copy())
    d2["features"][half:] += 1.0
    b = rt(**d2)
    assert np.abs(a[:half] - b[:half]).max() > 1e-4
