"""Throughput of the ImageNet-style eval path (not a test): images/s at r = 224 through DataLoader workers.

Writes `--images` JPEGs of 500 x 375 (ImageNet's most common size, quality 90) into a temporary folder,
streams them with `ImageFolderSource.eval_batches` (the path export and `predictor dataset` use) and
prints a table, then where one image's time goes in one process (decode, resize, crop, normalise), and
what PIL's `draft()` (JPEG DCT scaling) would gain; draft changes pixels, so the eval path does not use it.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/bench_data.py --images 500 --workers 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ofa_deploy.data.imagenet import ImageFolderSource
from ofa_deploy.data.transforms import center_crop, eval_resize_side, normalize, open_rgb, resize_shorter


def write_folder(root: Path, n: int, classes: int = 10) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / "train" / f"n{i % classes:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        # Smooth content with some texture, so the JPEG is photo-like in size (~40-60 kB).
        base = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        img = Image.fromarray(base).resize((500, 375), Image.BICUBIC)
        noise = rng.integers(-12, 13, (375, 500, 3))
        img = Image.fromarray(np.clip(np.asarray(img, np.int16) + noise, 0, 255).astype(np.uint8))
        img.save(folder / f"img_{i:05d}.JPEG", "JPEG", quality=90)


def throughput(root: Path, r: int, workers: int, batch: int, repeats: int) -> list[float]:
    src = ImageFolderSource(root, val_size=0, workers=workers)
    n = src.split_size("train")
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        seen = sum(len(y) for _, y in src.eval_batches("train", r, batch_size=batch))
        rates.append(seen / (time.perf_counter() - t))
        assert seen == n
    return rates


def profile(files: list[Path], r: int) -> dict[str, float]:
    """Mean ms per image for each step of the eval transform, in this process."""
    steps = {"open + decode + RGB": 0.0, "resize shorter side": 0.0, "center crop": 0.0, "normalise": 0.0,
             "decode with draft (not used)": 0.0}
    side = eval_resize_side(r)
    for f in files:
        t0 = time.perf_counter()
        img = open_rgb(f)
        t1 = time.perf_counter()
        img = resize_shorter(img, side)
        t2 = time.perf_counter()
        arr = np.asarray(center_crop(img, r))
        t3 = time.perf_counter()
        normalize(torch.from_numpy(arr[None].copy()))
        t4 = time.perf_counter()
        with Image.open(f) as im:
            im.draft("RGB", (side, side))
            im.convert("RGB")
        t5 = time.perf_counter()
        for k, dt in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            steps[k] += dt * 1000 / len(files)
    return steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=50)  # 500 images: 10 batches, shared evenly by 2 workers
    ap.add_argument("--r", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        write_folder(root, args.images)
        files = sorted(root.glob("train/*/*.JPEG"))
        print(f"wrote {len(files)} JPEGs of 500 x 375 ({sum(f.stat().st_size for f in files) / len(files) / 1e3:.0f} kB "
              f"each) in {time.perf_counter() - t:.1f} s")
        print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} cores")
        print(f"\n{'workers':>7} {'batch':>5} {'r':>4} {'images/s (each run)':>28} {'best':>7}")
        for w in sorted({0, args.workers}):
            rates = throughput(root, args.r, w, args.batch, args.repeats)
            print(f"{w:>7} {args.batch:>5} {args.r:>4} {' '.join(f'{x:8.0f}' for x in rates):>28} {max(rates):7.0f}")
        print(f"\nper image, one process (mean of {min(100, len(files))} images, r = {args.r}):")
        for k, ms in profile(files[:100], args.r).items():
            print(f"  {k:<30} {ms:6.2f} ms")
        print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
