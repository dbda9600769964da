"""Renders of painted synthetic heads (addon.face_render): Workbench, and Cycles for the
photo-like shading experiment; the paint must reach the image in both."""
import numpy as np

from faceforge.ml.geometry.primitives import icosphere
from lab.video.face_model import LIP, Camera, Head


def _red_ball() -> Head:
    """A 10 cm sphere painted in the lip colour (reddish: red well above green)."""
    verts, tris = icosphere(3, 0.1)
    return Head("test", 0, verts, tris, np.zeros((52,) + verts.shape, np.float32),
                np.full(len(verts), LIP, np.int32), np.ones(len(tris), bool))


def _render(bpy, cycles: bool) -> np.ndarray:
    from lab.video.face_render import build_painted_head, render_rgb, setup_scene, use_cycles
    scene = bpy.context.scene
    obj = build_painted_head(_red_ball())
    setup_scene(scene, Camera(distance=0.6, lens=50.0, size=(64, 48)))
    if cycles:
        use_cycles(scene, obj, samples=4)
    return render_rgb(scene)


def test_workbench_and_cycles_show_the_paint(bpy_empty):
    for cycles in (False, True):
        img = _render(bpy_empty, cycles).astype(int)
        assert img.shape == (48, 64, 3)
        centre, corner = img[24, 32], img[2, 2]
        assert centre[0] > centre[1] + 30, (cycles, centre)          # the lip paint, lit
        assert abs(corner[0] - corner[1]) < 15, (cycles, corner)     # grey background
    assert len([o for o in bpy_empty.context.scene.objects if o.type == "LIGHT"]) == 3
