"""FaceForge's shape keys: ARKit order, ownership, the user's keys untouched, rollback."""
import numpy as np
import pytest

from faceforge.addon import shape_keys
from faceforge.addon.mesh_io import read_shape_keys
from faceforge.addon.shape_keys import (
    faceforge_key_names, find_arkit_keys, remove_faceforge_keys, write_shape_keys)
from faceforge.ml.arkit import ARKIT_NAMES


@pytest.fixture
def grid(bpy_empty):
    bpy_empty.ops.mesh.primitive_grid_add(x_subdivisions=4, y_subdivisions=4)
    return bpy_empty.context.object


def _deltas(obj, k=52, seed=0):
    return np.random.default_rng(seed).normal(0, 0.1, (k, len(obj.data.vertices), 3))


def _state(obj):
    """Everything a write could change: key names, coords, values, relative keys, ownership."""
    key = obj.data.shape_keys
    if key is None:
        return None
    names, coords = read_shape_keys(obj)
    return (names, coords.tolist(), [kb.value for kb in key.key_blocks],
            [kb.relative_key.name for kb in key.key_blocks],
            list(key.get(shape_keys.OWNED_PROP, [])) if shape_keys.OWNED_PROP in key else None,
            obj.active_shape_key_index)


def test_creates_basis_and_keys_in_arkit_order(grid):
    deltas = _deltas(grid)
    report = write_shape_keys(grid, deltas, ARKIT_NAMES)
    assert report.created == list(ARKIT_NAMES) and not report.updated and not report.kept_user
    names, coords = read_shape_keys(grid)
    assert names == ["Basis", *ARKIT_NAMES]
    assert np.allclose(coords[1:] - coords[0], deltas, atol=1e-6)
    assert faceforge_key_names(grid) == list(ARKIT_NAMES)
    assert find_arkit_keys(grid) == {n: n for n in ARKIT_NAMES}


def test_new_keys_start_off_so_the_face_shows_its_rest_pose(grid, bpy_empty):
    rest = np.array([v.co[:] for v in grid.data.vertices])
    write_shape_keys(grid, _deltas(grid), ARKIT_NAMES)
    assert all(kb.value == 0.0 for kb in grid.data.shape_keys.key_blocks[1:])
    shown = grid.evaluated_get(bpy_empty.context.evaluated_depsgraph_get()).to_mesh()
    assert np.allclose([v.co[:] for v in shown.vertices], rest, atol=1e-6)


def test_rerun_updates_only_faceforge_keys(grid):
    write_shape_keys(grid, _deltas(grid), ARKIT_NAMES)
    new = _deltas(grid, seed=1)
    report = write_shape_keys(grid, new, ARKIT_NAMES)
    assert report.updated == list(ARKIT_NAMES) and not report.created
    names, coords = read_shape_keys(grid)
    assert names == ["Basis", *ARKIT_NAMES]
    assert np.allclose(coords[1:] - coords[0], new, atol=1e-6)


def test_user_keys_are_never_touched(grid):
    v = len(grid.data.vertices)
    grid.shape_key_add(name="Basis")
    mine = grid.shape_key_add(name="jawOpen", from_mix=False)        # same ARKit name
    blink = grid.shape_key_add(name="EyeBlink_L", from_mix=False)    # other spelling
    extra = grid.shape_key_add(name="Smirk", from_mix=False)
    mine.data[0].co = (7, 7, 7)
    mine.value, extra.value = 0.3, 0.6
    extra.relative_key = mine
    user_before = dict(zip(read_shape_keys(grid)[0], read_shape_keys(grid)[1].tolist()))

    report = write_shape_keys(grid, _deltas(grid), ARKIT_NAMES)
    assert report.kept_user == ["eyeBlinkLeft", "jawOpen"]
    assert len(report.created) == 50
    report = write_shape_keys(grid, _deltas(grid, seed=2), ARKIT_NAMES)
    assert report.kept_user == ["eyeBlinkLeft", "jawOpen"] and len(report.updated) == 50

    names, coords = read_shape_keys(grid)
    for n in ("jawOpen", "EyeBlink_L", "Smirk"):
        assert coords[names.index(n)].tolist() == user_before[n]
    assert (mine.value, extra.relative_key.name) == (pytest.approx(0.3), "jawOpen")
    assert extra.value == pytest.approx(0.6)
    assert find_arkit_keys(grid)["eyeBlinkLeft"] == "EyeBlink_L"
    assert "jawOpen" not in faceforge_key_names(grid) and len(faceforge_key_names(grid)) == 50

    assert len(remove_faceforge_keys(grid)) == 50
    assert read_shape_keys(grid)[0] == ["Basis", "jawOpen", "EyeBlink_L", "Smirk"]
    assert faceforge_key_names(grid) == []


def test_several_objects_each_get_their_keys(bpy_empty):
    objs = []
    for name in ("head", "teeth"):
        bpy_empty.ops.mesh.primitive_cube_add()
        bpy_empty.context.object.name = name
        objs.append(bpy_empty.context.object)
    for i, obj in enumerate(objs):
        write_shape_keys(obj, _deltas(obj, 2, seed=i), ["jawOpen", "tongueOut"])
    assert [faceforge_key_names(o) for o in objs] == [["jawOpen", "tongueOut"]] * 2


@pytest.mark.parametrize("bad", ["shape", "nan", "duplicate"])
def test_invalid_input_changes_nothing(grid, bad):
    write_shape_keys(grid, _deltas(grid, 3), ARKIT_NAMES[:3])
    grid.shape_key_add(name="user", from_mix=False)
    before = _state(grid)
    deltas, names = _deltas(grid, 5, seed=3), list(ARKIT_NAMES[:5])
    if bad == "shape":
        deltas = deltas[:, :-1]
    elif bad == "nan":
        deltas[4, 2, 1] = np.nan
    else:
        names[4] = names[0]
    with pytest.raises(ValueError):
        write_shape_keys(grid, deltas, names)
    assert _state(grid) == before


def test_failure_midway_restores_mesh(grid, monkeypatch):
    write_shape_keys(grid, _deltas(grid, 3), ARKIT_NAMES[:3])
    grid.active_shape_key_index = 1
    before = _state(grid)
    real, calls = shape_keys._set_co, []

    def flaky(kb, co):
        calls.append(kb.name)
        if len(calls) == 5:  # after updating 3 keys and creating one
            raise RuntimeError("disk on fire")
        real(kb, co)

    monkeypatch.setattr(shape_keys, "_set_co", flaky)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_shape_keys(grid, _deltas(grid, 6, seed=4), ARKIT_NAMES[:6])
    monkeypatch.undo()
    assert _state(grid) == before


def test_failure_on_fresh_mesh_removes_basis(grid, monkeypatch):
    def broken(kb, co):
        raise RuntimeError("boom")
    monkeypatch.setattr(shape_keys, "_set_co", broken)
    with pytest.raises(RuntimeError):
        write_shape_keys(grid, _deltas(grid, 2), ARKIT_NAMES[:2])
    assert grid.data.shape_keys is None
