"""Per-vertex tangent frames and sparse tangent-plane gradient operators."""
import numpy as np
import scipy.sparse as sp

from .mesh import face_normals, scatter_sum, unique_edges

UP = np.array([0.0, 0.0, 1.0])    # the canonical head frame's up axis (+Z)
SIDE = np.array([1.0, 0.0, 0.0])  # used where the normal is parallel to UP
LSTSQ_REG = 1e-6                  # ridge on each 2x2 normal matrix, relative to its trace


def vertex_normals(verts, tris) -> np.ndarray:
    """[V,3] unit normals: sum of adjacent face normals weighted by area; +Z where none."""
    tris = np.asarray(tris, np.int64)
    fn = face_normals(verts, tris)
    normals = scatter_sum(tris.ravel(), np.repeat(fn, 3, axis=0), len(verts))
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.where(norm > 0, normals / np.where(norm > 0, norm, 1.0), UP)


def tangent_frames(verts, tris) -> np.ndarray:
    """[V,3,3] right-handed frames, rows (x axis, y axis, normal).

    x is UP projected onto the tangent plane, so the basis varies smoothly over the mesh
    and agrees between meshes in the canonical frame (it flips only where the normal is
    parallel to UP, at the top of the head and under the neck).
    """
    n = vertex_normals(verts, tris)
    x = UP - (n @ UP)[:, None] * n
    side = SIDE - (n @ SIDE)[:, None] * n
    x = np.where(np.linalg.norm(x, axis=1, keepdims=True) > 1e-6, x, side)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.stack([x, np.cross(n, x), n], axis=1)


def gradient_operators(verts, tris, frames):
    """(grad_x, grad_y) sparse [V,V]: tangent-plane gradient components of a vertex field.

    DiffusionNet-style: at vertex i, the gradient g minimises sum_j (g . e_ij - (f_j - f_i))²
    over its 1-ring edges e_ij projected onto the frame's (x, y); the 2x2 normal equations
    are solved in closed form for all vertices at once.
    """
    verts = np.asarray(verts, np.float64)
    n = len(verts)
    e = unique_edges(tris)
    src, dst = np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]]
    d = verts[dst] - verts[src]
    u = np.einsum("ed,ed->e", d, frames[src, 0])
    v = np.einsum("ed,ed->e", d, frames[src, 1])
    a, b, c = scatter_sum(src, np.stack([u * u, u * v, v * v], axis=1), n).T
    # isolated vertices have an all-zero normal matrix: their ridge is 1 instead
    reg = LSTSQ_REG * (a + c) + (a + c == 0)
    a, c = a + reg, c + reg
    det = a * c - b * b
    inv_a, inv_b, inv_c = (c / det)[src], (-b / det)[src], (a / det)[src]
    cx, cy = inv_a * u + inv_b * v, inv_b * u + inv_c * v
    rows, cols = np.r_[src, src], np.r_[dst, src]
    grad_x = sp.csr_matrix((np.r_[cx, -cx], (rows, cols)), shape=(n, n))
    grad_y = sp.csr_matrix((np.r_[cy, -cy], (rows, cols)), shape=(n, n))
    return grad_x, grad_y
