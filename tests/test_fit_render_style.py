"""The lab's photo-like render look for Fit to Photo: paint placed from the landmark
binding, lights and backdrop added once, the Workbench looks left alone."""
import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from faceforge.addon import face_rig, reference_head  # noqa: E402
from lab.fit import render_style  # noqa: E402


@pytest.fixture
def rig(bpy_empty):
    head = reference_head.build_reference_head()
    arm = face_rig.generate_rig(head)

    class Rig:  # the two fields render_style reads from ops.fit.FitRig
        mesh, binding = head, face_rig.Binding.load(arm)
    return Rig


def test_paint_marks_lips_brows_hair_and_irises(rig):
    colour = render_style.paint(rig.mesh, rig.binding)
    share = {name: np.all(np.isclose(colour, value), axis=1).mean()
             for name, value in (("skin", render_style.SKIN), ("lips", render_style.LIPS),
                                 ("brow", render_style.BROW), ("hair", render_style.HAIR),
                                 ("iris", render_style.IRIS), ("pupil", render_style.PUPIL))}
    assert share["skin"] > 0.2 and share["hair"] > 0.01  # the face is denser than the scalp
    for name in ("lips", "brow", "iris", "pupil"):
        assert 0 < share[name] < 0.05, (name, share[name])
    # The lips sit below the brows and between the mouth corners (61, 291) of the binding.
    verts = np.array([v.co[:] for v in rig.mesh.data.vertices])
    pts = rig.binding.points(verts)
    lips = verts[np.all(np.isclose(colour, render_style.LIPS), axis=1)]
    brows = verts[np.all(np.isclose(colour, render_style.BROW), axis=1)]
    assert lips[:, 2].max() < brows[:, 2].min()
    assert pts[61, 0] - 1e-3 <= lips[:, 0].min() and lips[:, 0].max() <= pts[291, 0] + 1e-3


def test_dress_once_and_only_for_lit_looks(rig):
    render_style.dress(rig, "flat")
    assert render_style.LIGHTS not in bpy.data.objects
    assert render_style.ATTRIBUTE not in rig.mesh.data.color_attributes
    render_style.dress(rig, "cycles")
    render_style.dress(rig, "cycles")
    assert sum(o.type == "LIGHT" for o in bpy.data.objects) == 3
    assert bpy.context.scene.world.name == render_style.WORLD
    assert rig.mesh.data.materials[0].node_tree.nodes.get("Principled BSDF") is not None
    with pytest.raises(ValueError, match="render style"):
        render_style.dress(rig, "toon")


def test_probe_scores_and_look_names():
    """The probe's gain is 1 when MediaPipe's points follow the exact ones, 0 when they sit
    on one face; a look's spec names its size and an older cache."""
    from lab.fit.probe_render_style import follow_scores, parse_style
    from faceforge.ml.fit.landmarks import FIT_INDICES
    rng = np.random.default_rng(0)
    base = rng.normal(size=(len(FIT_INDICES), 2))
    exact = base + 0.05 * rng.normal(size=(40,) + base.shape)
    follow = follow_scores(exact.copy(), exact)
    stuck = follow_scores(np.broadcast_to(base, exact.shape).copy(), exact)
    assert follow["gain"] == pytest.approx(1.0) and follow["varying"] < 1e-6
    assert abs(stuck["gain"]) < 0.05 and stuck["varying"] > 1.0
    assert parse_style("cycles@256v1") == ("cycles", 256, "v1")
    assert parse_style("flat") == ("flat", 512, "")
