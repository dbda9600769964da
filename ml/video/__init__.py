"""Video to face landmarks: decoding (OpenCV) and face tracking (MediaPipe), bpy-free."""
