"""The demo's reference photo, ml/fit/data/demo_photo.jpg: the public-domain astronaut
portrait (NASA) cropped to the face and shoulders with MediaPipe's landmarks, 320 px,
JPEG quality 90 (the full picture is in ../shared/data/photos, which the add-on does not
carry).

    python -m lab.fit.make_demo_photo
"""
from __future__ import annotations

from lab.paths import ROOT, SHARED_DATA
from faceforge.ml.fit.photo import detect_landmarks, read_photo
from faceforge.ml.fit.sheet import face_crop

PHOTO = SHARED_DATA / "photos" / "astronaut.png"
OUT = ROOT / "ml" / "fit" / "data" / "demo_photo.jpg"


def main() -> None:
    import cv2
    rgb = read_photo(PHOTO)
    pts, _ = detect_landmarks(rgb)
    crop = face_crop(rgb, pts, size=320, margin=1.0)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(OUT), crop[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
