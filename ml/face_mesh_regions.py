"""MediaPipe face-mesh landmark sets (indices into the 478-point topology, Apache-2.0, from
face_landmarks_connections.h); Left/Right are the subject's. Shared by Fit to Photo (the
landmarks it fits) and Bake Video (which landmarks show each shape move)."""
from __future__ import annotations

LIPS = (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181,
        185, 191, 267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402,
        405, 409, 415)
LEFT_EYE = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466)
RIGHT_EYE = (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
LEFT_BROW = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336)
RIGHT_BROW = (46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
LEFT_IRIS = (473, 474, 475, 476, 477)
RIGHT_IRIS = (468, 469, 470, 471, 472)
FACE_OVAL = (10, 21, 54, 58, 67, 93, 103, 109, 127, 132, 136, 148, 149, 150, 152, 162, 172,
             176, 234, 251, 284, 288, 297, 323, 332, 338, 356, 361, 365, 377, 378, 379, 389,
             397, 400, 454)
NOSE = (1, 2, 4, 5, 6, 19, 48, 64, 94, 97, 98, 115, 129, 168, 195, 197, 219, 278, 294, 326,
        327, 344, 358, 439)
CHEEKS = (50, 116, 187, 205, 280, 345, 411, 425)

REGIONS = {"lips": LIPS, "left_eye": LEFT_EYE, "right_eye": RIGHT_EYE, "left_brow": LEFT_BROW,
           "right_brow": RIGHT_BROW, "nose": NOSE, "cheeks": CHEEKS, "face_oval": FACE_OVAL}
