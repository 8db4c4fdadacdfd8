"""Seconds per subnet of `predictor dataset` on an ImageNet-style folder (not a test; prints a table).

Writes `--bn-images + --eval-images` training JPEGs of 500 x 375 (ImageNet's most common size,
quality 90) into a temporary folder; `--eval-images` of them are the held-out split every subnet is
evaluated on, the rest the BN calibration images (upstream: 2000 of each, train transform, batches
of 200). Subnets are sampled at one fixed resolution (`--resolution`, 160: the issue's target), so
that the figure does not depend on which resolutions the sampler drew. The supernet is a random
w1.2 one (the official shape; its weights do not change the time) unless `--supernet` is given.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/bench_predictor_dataset.py \\
        --bn-images 2000 --eval-images 2000 --subnets 3 --workers 2 --threads 2      # the target
    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/bench_predictor_dataset.py --device cuda  # on a GPU
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def photo(rng: np.random.Generator, size=(500, 375)) -> Image.Image:
    img = Image.fromarray(rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)).resize(size)
    draw = ImageDraw.Draw(img)
    for _ in range(4):
        x, y = rng.integers(0, size[0]), rng.integers(0, size[1])
        draw.ellipse((x, y, x + 80, y + 60), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return img


def write_folder(root: Path, n: int, classes: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        d = root / "train" / f"n{i % classes:08d}"
        d.mkdir(parents=True, exist_ok=True)
        photo(rng).save(d / f"train_{i}.JPEG", quality=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--supernet", type=Path, help="checkpoint (default: a random w1.2 supernet)")
    ap.add_argument("--bn-images", type=int, default=2000)
    ap.add_argument("--eval-images", type=int, default=2000)
    ap.add_argument("--bn-batch", type=int, default=200)
    ap.add_argument("--resolution", type=int, default=160)
    ap.add_argument("--subnets", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--classes", type=int, default=10, help="class folders (a random supernet gets as many)")
    a = ap.parse_args()

    import torch

    from ofa_deploy.nn import OFAMobileNetV3, save_supernet
    from ofa_deploy.predictor.dataset import DatasetBuilder, DataSource
    from ofa_deploy.space import SpaceSpec

    with tempfile.TemporaryDirectory(prefix="bench-predictor-") as tmp:
        tmp = Path(tmp)
        if a.supernet is None:
            torch.manual_seed(0)
            spec = SpaceSpec(width_mult=1.2, n_classes=a.classes, in_channels=3)
            a.supernet = save_supernet(OFAMobileNetV3(spec), tmp / "supernet.pt")
            classes = a.classes
        else:
            from ofa_deploy.space.checkpoint import checkpoint_space

            classes = checkpoint_space(a.supernet).n_classes
        t0 = time.perf_counter()
        n = a.bn_images + a.eval_images
        write_folder(tmp / "imnet", n, classes)
        write_s = time.perf_counter() - t0
        builder = DatasetBuilder(tmp / "acc", a.supernet, a.subnets, 0, None, a.bn_images,
                                 DataSource("imagenet", str(tmp / "imnet"), a.eval_images, 0), a.threads,
                                 bn_batch=a.bn_batch, workers=a.workers, device=a.device,
                                 resolutions=(a.resolution,))
        # reading alone (decode + transform + batching, no network): what the images cost of each subnet
        t0 = time.perf_counter()
        for _ in builder.splits.bn_batches(a.resolution, builder.meta["bn_images"], a.bn_batch):
            pass
        for _ in builder.splits.eval_batches("val", a.resolution, limit=builder.meta["val_images"]):
            pass
        read_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        summary = builder.run()
        wall = time.perf_counter() - t0
    secs = summary["seconds_per_subnet"]
    images = summary["bn_images"] + summary["val_images"]
    print(f"predictor dataset on {a.device} ({torch.get_num_threads()} torch threads, {a.workers} workers), "
          f"r = {a.resolution}, {summary['space']}")
    print(f"{'subnets':>8} {'BN imgs':>8} {'eval imgs':>9} {'s/subnet':>9} {'imgs/s':>8} {'read s':>7} "
          f"{'wall s':>7} {'write s':>8}")
    print(f"{summary['rows']:>8} {summary['bn_images']:>8} {summary['val_images']:>9} {secs:>9.2f} "
          f"{images / secs:>8.0f} {read_s:>7.1f} {wall:>7.1f} {write_s:>8.1f}")
    print("s/subnet: extract + BN recalibration + evaluation of one subnet (the rows' mean); read s: reading "
          "its BN and eval images once, without the network")
    print("uptime:", os.popen("uptime").read().strip())


if __name__ == "__main__":
    main()
