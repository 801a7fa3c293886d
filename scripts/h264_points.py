"""H.264 rate and PSNR on compress-rd's full-size test sets (seeds 0-2), for each of its crfs:
the points of docs/results/compression.md, re-measured after the H.264 decode fix.

    PATH=<folder with ffmpeg>:$PATH python scripts/h264_points.py
"""

from __future__ import annotations

import numpy as np

from ctflow.compress import psnr
from ctflow.compress.baselines import h264_roundtrip
from ctflow.experiments.compress_data import make_dataset
from ctflow.experiments.compress_rd import CompressRDConfig
from ctflow.harness import RunContext


def main() -> None:
    for ds in ("bouncing-balls", "smooth-control"):
        points: dict[int, list[tuple[float, float]]] = {}
        for seed in (0, 1, 2):
            config = CompressRDConfig(seed=seed)
            x_te, _, peak = make_dataset(ds, config, "test", RunContext(seed=seed))
            video = x_te.astype(np.float64)
            for crf in config.h264_crfs:
                packed, rec = h264_roundtrip(video, crf)
                mse = float(((rec - video) ** 2).mean())
                points.setdefault(crf, []).append((8 * len(packed) / len(video), psnr(mse, peak)))
        cells = []
        for pts in points.values():
            bits, quality = np.array(pts).T
            cells.append(
                f"{bits.mean():.0f} +- {bits.std(ddof=1):.0f} / "
                f"{quality.mean():.2f} +- {quality.std(ddof=1):.2f}"
            )
        print(ds, "; ".join(cells))


if __name__ == "__main__":
    main()
