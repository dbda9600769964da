"""Laplace-Beltrami eigenbasis, heat-kernel signatures, and a mesh's full operator set."""
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from .gradients import gradient_operators, tangent_frames
from .laplacian import cotan_laplacian, symmetric_solver

SHIFT = 1e-8      # sigma = -SHIFT x the mean diagonal of M^-1 L (about 1 / edge length²)
RETRIES = 3       # each retry multiplies the shift by 100


def eigenbasis(L, mass, k):
    """(evals [k] ascending, >= 0; evecs [V,k] M-orthonormal) of L phi = lambda M phi.

    Shift-invert Lanczos around sigma = -shift, slightly negative: L + shift M is
    positive definite even with every part's zero mode, so its factorisation is safe, and
    the eigenvalues nearest zero come first. k is clamped to V - 2 (ARPACK's limit).
    """
    k = int(min(k, L.shape[0] - 2))
    M = sp.diags(mass)
    shift = SHIFT * (np.mean(L.diagonal() / mass) or 1.0)
    for attempt in range(RETRIES):
        try:
            inverse = symmetric_solver(L + shift * M)
            OPinv = sla.LinearOperator(L.shape, matvec=inverse, dtype=np.float64)
            evals, evecs = sla.eigsh(L, k, M=M, sigma=-shift, OPinv=OPinv)
            break
        except RuntimeError:  # singular factor or no convergence (ArpackError is one)
            if attempt == RETRIES - 1:
                raise
            shift *= 100
    order = np.argsort(evals)
    return np.maximum(evals[order], 0.0), evecs[:, order]


def heat_kernel_signature(evals, evecs, times=np.geomspace(1.0, 64.0, 16)):
    """[V, len(times)] heat-kernel signatures, invariant to the mesh's scale.

    times are in units of 1 / evals[-1] (for a fixed k, about the squared spacing of the
    finest resolved wave), and each column is divided by its mean over the vertices
    (Sun et al.'s heat-trace normalisation), so features are O(1) on any mesh.
    """
    t = np.asarray(times, np.float64) / max(evals[-1], np.finfo(float).tiny)
    hks = (evecs ** 2) @ np.exp(-np.outer(evals, t))
    return hks / hks.mean(axis=0)


@dataclass(frozen=True)
class Operators:
    """What the network needs of one mesh (float32 arrays, csr float32 matrices)."""
    mass: np.ndarray      # [V] lumped vertex areas
    evals: np.ndarray     # [k]
    evecs: np.ndarray     # [V,k] M-orthonormal
    grad_x: sp.csr_matrix  # [V,V]
    grad_y: sp.csr_matrix  # [V,V]
    frames: np.ndarray    # [V,3,3] rows x axis, y axis, normal


def operators(verts, tris, k=128) -> Operators:
    """All of a mesh's operators: Laplacian eigenbasis, tangent frames, gradients."""
    L, mass = cotan_laplacian(verts, tris)
    evals, evecs = eigenbasis(L, mass, k)
    frames = tangent_frames(verts, tris)
    grad_x, grad_y = gradient_operators(verts, tris, frames)
    f32 = np.float32
    return Operators(mass.astype(f32), evals.astype(f32), evecs.astype(f32),
                     grad_x.astype(f32), grad_y.astype(f32), frames.astype(f32))
