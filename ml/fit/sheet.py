"""Side-by-side pictures of a fit: square face crops (framed on the face's landmarks),
each labelled, in one row. Used by the demo's comparison and the evaluation's contact
sheet."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def face_crop(rgb: np.ndarray, pts: np.ndarray | None, size: int = 256,
              margin: float = 0.65) -> np.ndarray:
    """[H, W, 3] uint8 -> [size, size, 3]: a square around the landmarks [478, 2+] (pixels;
    None: the centre of the image), `margin` x their extent each side of their centre,
    padded with white where it leaves the image."""
    import cv2
    h, w = rgb.shape[:2]
    if pts is None:
        c, half = np.array([w / 2, h / 2]), min(w, h) / 2
    else:
        lo, hi = pts[:, :2].min(0), pts[:, :2].max(0)
        c, half = (lo + hi) / 2, (hi - lo).max() * margin
    x0, y0 = np.round(c - half).astype(int)
    x1, y1 = np.round(c + half).astype(int)
    pad = max(0, -x0, -y0, x1 - w, y1 - h)
    img = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    return cv2.resize(img[y0 + pad:y1 + pad, x0 + pad:x1 + pad], (size, size),
                      interpolation=cv2.INTER_AREA)


def labelled_row(tiles: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """[(label, [S, S, 3] uint8 RGB), ...] -> [S, S * n, 3] with each label written on its tile."""
    import cv2
    row = []
    for label, img in tiles:
        img = np.ascontiguousarray(img.copy())
        for colour, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(img, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, width, cv2.LINE_AA)
        row.append(img)
    return np.concatenate(row, axis=1)


def write_rgb(path, rgb: np.ndarray) -> None:
    """Save [H, W, 3] uint8 RGB as an image file (format from the suffix)."""
    import cv2
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
        raise OSError(f"could not write {path}")
