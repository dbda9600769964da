"""Long operators that leave Blender usable: `ModalSteps` drives a step generator
(`ml.steps`) a slice at a time from a timer, with the progress bar, a status line and Esc to
cancel; headless (no window to take events) it runs the steps straight through. Nothing is
written to the scene until the steps have finished, so a cancel or an error leaves it as
it was."""
from __future__ import annotations

import time

import bpy

from ..ml.steps import Cancelled, run_steps

SLICE_S = 0.1      # work per timer tick before the window gets its turn
TICK_S = 0.02      # timer interval
# What a step generator raises for bad input or a cancel: reported, the operator cancelled.
# ReferenceError: an object the work holds was deleted (or undone) while it ran.
STEP_ERRORS = (ValueError, Cancelled, KeyboardInterrupt, ReferenceError)


def _share_and_text(step, label: str) -> tuple[float, str]:
    """A step is a share done (0..1) or a (stage, share) pair."""
    if isinstance(step, tuple):
        stage, share = step
        return share, f"{label}: {stage} {share:.0%} (Esc to cancel)"
    return step, f"{label}: {step:.0%} (Esc to cancel)"


class ModalSteps:
    """Mixin for an operator whose work is a step generator: call `run_steps_modal(context,
    steps)` from `execute`; `finish(context, result)` gets the generator's return value
    (and writes to the scene); `on_step(context)` runs after each timer slice (a live
    preview). `progress_span` maps the steps' share onto the progress bar (the rest is
    left for `finish`). The first step runs at once, so checks fail with their message and
    quick work (a cached model) finishes without going modal."""
    steps_label = "Working"
    progress_span = 100

    _steps = None
    _timer = None

    def run_steps_modal(self, context, steps):
        wm = context.window_manager
        headless = bpy.app.background or context.window is None   # no events to wait for
        wm.progress_begin(0, 100)
        try:
            if headless:
                result = run_steps(steps, lambda step: wm.progress_update(
                    self.progress_span * _share_and_text(step, "")[0]))
            else:
                next(steps)
        except StopIteration as done:
            result, headless = done.value, True
        except STEP_ERRORS as exc:
            wm.progress_end()
            self.on_stop(context)
            self.report({"ERROR"}, str(exc) or "cancelled")
            return {"CANCELLED"}
        if headless:
            wm.progress_end()
            self.on_stop(context)
            return self.finish(context, result)
        self._steps = steps
        self._timer = wm.event_timer_add(TICK_S, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC":
            self._stop_steps(context)
            self.report({"WARNING"}, f"{self.steps_label} cancelled; nothing was changed")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        step, deadline = 0.0, time.perf_counter() + SLICE_S
        try:
            while time.perf_counter() < deadline:
                step = next(self._steps)
        except StopIteration as done:
            self._stop_steps(context)
            try:
                return self.finish(context, done.value)
            except STEP_ERRORS as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
        except STEP_ERRORS as exc:
            self._stop_steps(context)
            self.report({"ERROR"}, str(exc) or "cancelled")
            return {"CANCELLED"}
        share, text = _share_and_text(step, self.steps_label)
        context.window_manager.progress_update(self.progress_span * share)
        context.workspace.status_text_set(text)
        self.on_step(context)
        return {"RUNNING_MODAL"}

    def _stop_steps(self, context) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        self._steps.close()          # the generator's own clean-up (a thread told to stop)
        self.on_stop(context)
        wm.progress_end()
        context.workspace.status_text_set(None)

    def finish(self, context, result) -> set:
        raise NotImplementedError

    def on_step(self, context) -> None:
        """After each slice of steps (nothing by default)."""

    def on_stop(self, context) -> None:
        """When the steps end, finished or not, before `finish` (nothing by default)."""
