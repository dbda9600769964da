"""FaceForge's bpy-free core: numpy/torch models, training, inference and evaluation."""
