"""Geometry operators on arbitrary triangle meshes (numpy + scipy, no bpy)."""
