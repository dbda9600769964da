"""Auto-Rig Face: a topology-agnostic network that gives any head mesh the 52 ARKit shapes."""
