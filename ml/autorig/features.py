"""A head mesh in the canonical frame -> the network's inputs (features and operators).

Operators are built on the mesh in decimetres (canonical mm / 100) so eigenvalues, and
with them the learned diffusion times, sit in the same range on every head.
"""
from __future__ import annotations

import numpy as np

from ..geometry.spectral import heat_kernel_signature, operators

UNIT_MM = 100.0   # canonical millimetres per operator unit
K_EIG = 96


def mesh_inputs(verts_mm: np.ndarray, tris: np.ndarray, k: int = K_EIG) -> dict[str, np.ndarray]:
    """{features [V,22], mass, evals, evecs, grad_x, grad_y} for `runtime.AutoRigRuntime`:
    features are position (dm), vertex normal and a 16-scale heat-kernel signature."""
    verts = np.asarray(verts_mm, dtype=np.float64) / UNIT_MM
    ops = operators(verts, tris, k)
    hks = np.log(heat_kernel_signature(ops.evals, ops.evecs) + 1e-6)
    features = np.concatenate([verts, ops.frames[:, 2], hks], axis=1).astype(np.float32)
    return dict(features=features, mass=ops.mass, evals=ops.evals, evecs=ops.evecs,
                grad_x=ops.grad_x, grad_y=ops.grad_y)
