"""Long work as steps (ml/steps.py, ops/background.py): a thread's result and errors come
back through its generator, closing the generator (Esc in Blender) stops the work and
leaves the scene as it was, for Bake Lip-Sync's analysis and Fit to Photo's training."""
import threading
import time

import numpy as np
import pytest

from faceforge.ml.steps import Cancelled, in_thread, labelled, run_steps


def _thread_gone(name: str, within: float = 10.0) -> bool:
    end = time.perf_counter() + within
    while time.perf_counter() < end:
        if not any(t.name == name and t.is_alive() for t in threading.enumerate()):
            return True
        time.sleep(0.02)
    return False


def test_in_thread_reports_progress_and_returns_or_raises():
    def work(progress, cancel):
        for i in range(5):
            time.sleep(0.03)
            progress((i + 1) / 5)
        return "done"
    seen = []
    assert run_steps(in_thread(work), seen.append) == "done"
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert {0.2, 0.4, 0.6, 0.8, 1.0} <= set(seen)     # every report, however fast they come

    def burst(progress, cancel):                    # faster than the generator polls
        for i in range(50):
            progress((i + 1) / 50)
        return "burst"
    seen = []
    assert run_steps(in_thread(burst), seen.append) == "burst"
    assert list(dict.fromkeys(s for s in seen if s > 0)) == [(i + 1) / 50 for i in range(50)]

    def bad(progress, cancel):
        raise ValueError("no face found")
    with pytest.raises(ValueError, match="no face found"):
        run_steps(in_thread(bad))


def test_closing_the_steps_stops_the_work_without_waiting_for_it():
    stopped = threading.Event()

    def work(progress, cancel):
        while not cancel():
            time.sleep(0.01)
        stopped.set()
        raise Cancelled("cancelled")
    steps = labelled("training", in_thread(work, "test-work"))
    assert next(steps)[0] == "training"
    start = time.perf_counter()
    steps.close()
    assert time.perf_counter() - start < 0.5
    assert stopped.wait(5) and _thread_gone("test-work")
    # run_steps' cancel does the same.
    calls = []
    with pytest.raises(Cancelled):
        run_steps(in_thread(work, "test-work-2"), cancel=lambda: calls.append(1) or len(calls) > 2)
    assert _thread_gone("test-work-2")


def test_lipsync_analysis_steps_equal_the_analysis_and_stop_when_closed(shared_data,
                                                                       monkeypatch):
    from faceforge.ml.lipsync import analysis
    wav = shared_data / "speech" / "goforward.wav"
    options = dict(engine="phonetic", transcribe=False)
    direct = analysis.analyse_speech(wav, 30.0, **options)
    shares = []
    stepped = run_steps(analysis.analysis_steps(wav, 30.0, **options), shares.append)
    assert np.array_equal(stepped.result.weights, direct.result.weights)
    assert stepped.options == direct.options and shares
    # An analysis that reports progress forever stops at its next report once closed.
    ended = []

    def endless(samples, rate, fps, progress=None, **kw):
        try:
            while True:
                time.sleep(0.01)
                progress(0.5)
        finally:
            ended.append(True)
    monkeypatch.setattr(analysis, "lipsync", endless)
    steps = analysis.analysis_steps(wav, 30.0, **options)
    assert next(steps) in (0.0, 0.5)
    steps.close()
    assert _thread_gone("faceforge-lipsync") and ended
    monkeypatch.undo()
    again = run_steps(analysis.analysis_steps(wav, 30.0, **options))   # nothing left locked
    assert np.array_equal(again.result.weights, direct.result.weights)


def test_fit_cancelled_while_training_leaves_the_head_as_it_was(bpy_empty, shared_data,
                                                                tmp_path, monkeypatch):
    bpy = pytest.importorskip("bpy")
    from faceforge.addon import reference_head
    from faceforge.ops import fit as fit_ops
    monkeypatch.setattr(fit_ops, "SHIPPED", tmp_path / "none")     # nothing cached: train
    monkeypatch.setenv("FACEFORGE_CACHE", str(tmp_path / "cache"))
    fit_ops._MEMORY.clear()
    head = reference_head.build_reference_head()
    for kb in head.data.shape_keys.key_blocks[1:]:
        kb.value = 0.0
    groups, modifiers = len(head.vertex_groups), len(head.modifiers)
    steps = fit_ops.fit_steps([head], shared_data / "photos" / "astronaut.png", make_rig=True)
    stage, _ = next(steps)
    assert stage == "sampling" and [o for o in bpy.data.objects if o.type == "ARMATURE"]
    while stage != "training":
        stage, _ = next(steps)
    steps.close()
    assert not [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert len(head.vertex_groups) == groups and len(head.modifiers) == modifiers
    assert _thread_gone("faceforge-imitator")
    assert not list((tmp_path / "cache").glob("*.npz"))


class _Stub:
    """Just enough of a window manager, workspace and event for ModalSteps.modal."""
    def __init__(self, **kw):
        self.__dict__.update(kw)


def _modal_operator(steps):
    pytest.importorskip("bpy")
    from faceforge.ops.background import ModalSteps

    class Op(ModalSteps):
        steps_label = "Test"
        reports, finished, stopped = [], [], []

        def report(self, kind, text):
            self.reports.append((kind, text))

        def finish(self, context, result):
            self.finished.append(result)
            return {"FINISHED"}

        def on_stop(self, context):
            self.stopped.append(True)
    op = Op()
    op._steps = steps
    status = []
    wm = _Stub(progress_update=lambda v: None, progress_end=lambda: None,
               event_timer_remove=lambda t: None)
    context = _Stub(window_manager=wm, workspace=_Stub(status_text_set=status.append))
    return op, context, status


def test_modal_driver_runs_steps_from_the_timer_and_esc_stops_them():
    def work(progress, cancel):
        for i in range(20):
            if cancel():
                raise Cancelled("cancelled")
            time.sleep(0.02)
            progress((i + 1) / 20)
        return 42
    op, context, status = _modal_operator(labelled("training", in_thread(work, "test-modal")))
    timer, esc = _Stub(type="TIMER"), _Stub(type="ESC")
    assert op.modal(context, _Stub(type="MOUSEMOVE")) == {"PASS_THROUGH"}
    while (state := op.modal(context, timer)) == {"RUNNING_MODAL"}:
        pass
    assert state == {"FINISHED"} and op.finished == [42] and op.stopped
    assert any(s and s.startswith("Test: training") and "Esc" in s for s in status)
    assert status[-1] is None                        # the status line is cleared

    op, context, status = _modal_operator(labelled("training", in_thread(work, "test-modal-2")))
    assert op.modal(context, timer) == {"RUNNING_MODAL"}
    assert op.modal(context, esc) == {"CANCELLED"}
    assert not op.finished and op.reports[-1][0] == {"WARNING"} and "cancelled" in op.reports[-1][1]
    assert _thread_gone("test-modal-2")

    def bad(progress, cancel):
        raise ValueError("no face found in the photo")
    op, context, status = _modal_operator(in_thread(bad))
    while (state := op.modal(context, timer)) == {"RUNNING_MODAL"}:
        pass
    assert state == {"CANCELLED"} and op.reports[-1] == ({"ERROR"}, "no face found in the photo")


def test_auto_rig_cancelled_while_predicting_writes_nothing(bpy_empty):
    from faceforge.addon import reference_head
    from faceforge.ml.autorig import infer
    from faceforge.ops.autorig import rig_steps
    head = reference_head.build_reference_head()
    head.shape_key_clear()
    steps = rig_steps([head], infer.RigOptions())
    assert 0.0 <= next(steps) <= 1.0                 # checked, read, predicting on a thread
    steps.close()
    assert head.data.shape_keys is None and not head.animation_data
    assert _thread_gone("faceforge-autorig", within=60)
