"""Head rotations [T, 3] (XYZ Euler radians about the face's own axes: object facing -Y,
+Z up) turned into Euler curves for an object or an armature's pose bone, composed with
its current pose so the animation starts from where the user left it."""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def _euler_curves(rotation: Rotation) -> np.ndarray:
    """XYZ Euler angles without 2-pi jumps between frames (F-curves interpolate them)."""
    return np.unwrap(rotation.as_euler("xyz"), axis=0)


def object_euler(obj, rotation: np.ndarray) -> np.ndarray:
    """The object's rotation_euler curves when the head turns by `rotation` (about its
    parent's axes) on top of its current rotation."""
    base = Rotation.from_matrix(np.array(obj.matrix_basis.to_3x3().normalized()))
    return _euler_curves(Rotation.from_euler("xyz", rotation) * base)


def bone_euler(armature, bone_name: str, rotation: np.ndarray) -> np.ndarray:
    """A pose bone's rotation_euler curves when the head turns by `rotation` (about world
    axes) about the bone's head, on top of its current pose rotation."""
    pose_bone = armature.pose.bones.get(bone_name)
    if pose_bone is None:
        raise ValueError(f"armature {armature.name!r} has no bone {bone_name!r}")
    rest = np.array((armature.matrix_world.to_3x3() @ pose_bone.bone.matrix_local.to_3x3())
                    .normalized())
    # rest^-1 R rest expresses the world-axis turn in the bone's local axes.
    rest_rot = Rotation.from_matrix(rest)
    local = rest_rot.inv() * Rotation.from_euler("xyz", rotation) * rest_rot
    base = Rotation.from_matrix(np.array(pose_bone.matrix_basis.to_3x3().normalized()))
    return _euler_curves(local * base)
