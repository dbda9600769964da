"""Fit to Photo runtime (bpy-free): the rig's parameter space, the imitator network that
stands in for Blender (parameters -> face landmarks), the photo's landmarks, and the
iterative and one-shot fits."""
