"""XYZ Euler angles (Blender's convention) to rotation matrices and back."""
import numpy as np


def euler_matrix(euler: np.ndarray) -> np.ndarray:
    """[...,3] XYZ Euler (Blender: R = Rz @ Ry @ Rx) -> [...,3,3]."""
    x, y, z = np.moveaxis(np.asarray(euler, dtype=np.float64), -1, 0)
    cx, sx, cy, sy, cz, sz = np.cos(x), np.sin(x), np.cos(y), np.sin(y), np.cos(z), np.sin(z)
    return np.stack([
        np.stack([cy * cz, sx * sy * cz - cx * sz, cx * sy * cz + sx * sz], -1),
        np.stack([cy * sz, sx * sy * sz + cx * cz, cx * sy * sz - sx * cz], -1),
        np.stack([-sy, sx * cy, cx * cy], -1)], -2)


def matrix_euler(rot: np.ndarray) -> np.ndarray:
    """[...,3,3] rotation -> [...,3] XYZ Euler (inverse of euler_matrix away from gimbal lock)."""
    y = np.arcsin(np.clip(-rot[..., 2, 0], -1.0, 1.0))
    x = np.arctan2(rot[..., 2, 1], rot[..., 2, 2])
    z = np.arctan2(rot[..., 1, 0], rot[..., 0, 0])
    return np.stack([x, y, z], -1)
