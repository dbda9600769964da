"""Position encoding shared by the torch model and the numpy runtime (no torch here)."""
import numpy as np


def fourier_features(pos, octaves: int, sin, cos, cat):
    """sin/cos of the position at octave frequencies (periods 4 dm down to 4/2^(n-1) dm), so
    the MLPs can draw sharp, local motion such as an eyelid's; `sin`, `cos` and `cat` come
    from the array library in use (torch or numpy)."""
    scaled = [pos * (np.pi / 2 * 2 ** k) for k in range(octaves)]
    return cat([f(x) for x in scaled for f in (sin, cos)])
