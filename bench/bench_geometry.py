"""Time to build a mesh's operators (k = 128) on icospheres of about 5k, 20k and 100k vertices.

    .venv/bin/python -m bench.bench_geometry
"""
import time

from faceforge.ml.geometry.gradients import gradient_operators, tangent_frames
from faceforge.ml.geometry.laplacian import cotan_laplacian
from faceforge.ml.geometry.primitives import icosphere
from faceforge.ml.geometry.spectral import eigenbasis

K = 128
FREQUENCIES = (22, 45, 100)  # 10 f² + 2 vertices: 4,842, 20,252, 100,002


def main():
    print(f"{'vertices':>9} {'laplacian':>10} {'eigenbasis':>11} {'gradients':>10} {'total s':>8}")
    for frequency in FREQUENCIES:
        verts, tris = icosphere(frequency)
        t0 = time.perf_counter()
        L, mass = cotan_laplacian(verts, tris)
        t1 = time.perf_counter()
        eigenbasis(L, mass, K)
        t2 = time.perf_counter()
        gradient_operators(verts, tris, tangent_frames(verts, tris))
        t3 = time.perf_counter()
        print(f"{len(verts):>9,} {t1 - t0:>10.3f} {t2 - t1:>11.3f} {t3 - t2:>10.3f} {t3 - t0:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
