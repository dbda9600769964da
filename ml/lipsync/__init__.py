"""Lip-sync from speech audio: audio loading, phone recognition / forced alignment,
visemes with coarticulation, the engine and its evaluation (bpy-free)."""

#: "0" in this environment variable keeps every chunk of a long clip in the calling process
#: (`phonemes._ChunkWorker`); batch workers set it, as they already have a core each.
CHUNK_WORKERS_ENV = "FACEFORGE_LIPSYNC_WORKERS"
