"""Lip-sync from speech audio: audio loading, phone recognition / forced alignment,
visemes with coarticulation, the engine and its evaluation (bpy-free)."""
