"""The jaw floor: where the network's jawOpen barely parts the lips (Suzanne), the rig
turns the lower face about a hinge instead; human heads keep the network's jaw."""
import numpy as np
import pytest

from faceforge.ml import arkit
from faceforge.ml.anny_head import load_anny_head
from faceforge.ml.autorig import eyes, floors, infer, jaw
from lab.autorig import metrics

JAW, CLOSE = arkit.INDEX["jawOpen"], arkit.INDEX["mouthClose"]


@pytest.fixture(scope="module")
def monkey():
    """Suzanne as arrays, rigged: (verts, tris, labels, result, canonical verts, deltas, skin)."""
    pytest.importorskip("bpy")
    from helpers import suzanne_arrays
    verts, tris, labels = suzanne_arrays()
    result = infer.rig(verts, tris, labels)
    v, d, _ = infer.canonical_view(verts, result)
    skin = labels == np.argmax(np.bincount(labels))
    return verts, tris, labels, result, v.astype(np.float64), d.astype(np.float64), skin


def test_suzannes_jaw_opens_and_the_report_says_so(monkey):
    """The network parts her lips 3 mm (at 63 mm between the eyes), and scaling its jaw
    parts them less; the rebuilt jaw parts them by the floor, as the evaluation measures."""
    *_, result, v, d, skin = monkey
    gap = floors.inner_lip_gap_mm(v, d, skin)
    assert floors.JAW_GAP_FLOOR_MM <= gap <= floors.JAW_GAP_FLOOR_MM + 0.1
    assert metrics.functional_checks(v, d, skin, None)["inner_lip_gap_mm"][1]
    assert any("jawOpen parted the lips only" in n and "hinge turn" in n for n in result.notes)


def test_suzannes_new_jaw_turns_the_lower_face_only_and_mirrors(monkey):
    """Upper lip, nose and everything above stay still; the chin goes down and back; the
    left and right halves mirror each other; jawOpen + mouthClose brings the lips together."""
    *_, v, d, skin = monkey
    line = jaw.find_mouth_line(v, floors.lip_strip(v, skin))
    assert line is not None
    above = v[:, 2] > line.upper
    assert np.abs(d[JAW, above]).max() < 1e-6
    chin = skin & (np.abs(v[:, 0]) < 4) & (v[:, 2] < line.lower) & (v[:, 1] < 0)
    assert (d[JAW, chin, 2] < -2.0).all() and (d[JAW, chin, 1] > 0).all()
    only = np.zeros_like(d)
    only[[JAW, CLOSE]] = d[[JAW, CLOSE]]
    assert metrics.mirror_error(v, only, skin) < 1e-3
    closed = d.copy()
    closed[JAW] += d[CLOSE]
    assert floors.inner_lip_gap_mm(v, closed, skin) < 0.2 * floors.JAW_GAP_FLOOR_MM


def test_lower_teeth_turn_with_the_jaw_and_upper_teeth_stay(monkey):
    """Loose mouth parts below the mouth line (lower teeth, tongue) turn rigidly with the
    rebuilt jaw, those above it stay still, and mouthClose leaves them all in place."""
    *_, v, d, skin = monkey
    line = jaw.find_mouth_line(v, floors.lip_strip(v, skin))
    block = np.array([[x, y, z] for x in (-6.0, 6.0) for y in (-4.0, 4.0) for z in (-2.0, 2.0)])
    upper = block + [0.0, 5.0, line.upper + 2.0]
    lower = block + [0.0, 5.0, line.lower - 2.0]
    verts = np.concatenate([v, upper, lower])
    labels = np.repeat([0, 1, 2], [len(v), len(block), len(block)])
    deltas = np.zeros((arkit.NUM_SHAPES, len(verts), 3), np.float32)   # a jaw that does not open
    out, notes = floors.apply_floors(verts, deltas, np.concatenate([skin, np.zeros(16, bool)]),
                                     labels, [1, 2])
    assert any("hinge turn" in n for n in notes)
    assert np.abs(out[JAW, labels == 1]).max() == 0
    moved = out[JAW, labels == 2].astype(np.float64)
    assert moved[:, 2].mean() < -2.0
    np.testing.assert_allclose(moved, eyes.rigidify(lower, moved), atol=1e-3)
    assert np.abs(out[CLOSE, labels > 0]).max() == 0


def test_the_jaw_floor_leaves_a_human_head_alone(monkeypatch):
    """The built-in head parts its lips far beyond the floor: jawOpen and mouthClose are the
    network's, and the report says nothing of the jaw."""
    h = load_anny_head()
    polys = np.split(h.poly_verts, h.poly_offsets[1:-1])
    tris = np.concatenate([np.stack([p[0].repeat(len(p) - 2), p[1:-1], p[2:]], 1) for p in polys])
    verts = h.verts.astype(np.float64)
    result = infer.rig(verts, tris)
    assert not any("jawOpen" in n for n in result.notes)
    v, d, _ = infer.canonical_view(verts, result)
    labels = infer.connected_components(len(verts), np.concatenate([tris[:, :2], tris[:, 1:]]))
    skin = labels == np.argmax(np.bincount(labels))
    assert floors.inner_lip_gap_mm(v.astype(np.float64), d, skin) > 2 * floors.JAW_GAP_FLOOR_MM
    monkeypatch.setattr(floors, "JAW_GAP_FLOOR_MM", 0.0)        # no floor at all
    plain = infer.rig(verts, tris)
    np.testing.assert_allclose(result.deltas[[JAW, CLOSE]], plain.deltas[[JAW, CLOSE]], atol=1e-6)  # metres


def test_the_jaw_floor_leaves_a_head_framed_from_its_shape_alone(shared_data):
    """A held-out anny head without eyeballs is framed from its shape; there its lower lip
    falls below the lip window (0.3 mm measured where the lips part 28 mm), and the jaw
    must still be the network's."""
    from lab.autorig import data, evaluate
    sample = evaluate.test_heads("anny", "eyeless", 4)[3]
    result = infer.rig(sample.verts, sample.tris, sample.part_labels)
    assert not any("jawOpen" in n for n in result.notes)
    skin = data.kind_mask(sample, "skin")
    assert floors.inner_lip_gap_mm(sample.verts, result.deltas, skin) > 2 * floors.JAW_GAP_FLOOR_MM
