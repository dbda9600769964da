"""Emotion -> face: a VAD-to-ARKit MLP (numpy inference; torch only for training)."""
from .model import EmotionModel

__all__ = ["EmotionModel"]
