"""Targets of the wired ImageNet path (not a test): `export --data` and `predictor dataset --data` on a folder.

Writes an ImageNet-size folder (500 x 375 JPEGs, noise plus shapes) into a temporary directory, then runs
- `ofa-deploy export` of a w1.2 subnet at r = 224 from an official-format checkpoint, BN on `--bn-images`
  training images (target: <= 90 s end to end on 2 cores), verified on the val/ images;
- `ofa-deploy predictor dataset` at r = 160 (seconds per subnet, BN + eval images each),
and prints a table with the machine's load.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/bench_imagenet_export.py --supernet \\
        ../shared/golden/ofa_mbv3_w1.2/supernet.pth --images 2000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("n01440764", "n01443537", "n01484850", "n01491361")  # first ImageNet wnids: labels 0..3


def photo(rng: np.random.Generator, size=(500, 375)) -> Image.Image:
    img = Image.fromarray(rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)).resize(size)
    draw = ImageDraw.Draw(img)
    for _ in range(4):
        x, y = rng.integers(0, size[0]), rng.integers(0, size[1])
        draw.ellipse((x, y, x + 80, y + 60), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return img


def write_folder(root: Path, n_train: int, n_val: int) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            d = root / split / CLASSES[i % len(CLASSES)]
            d.mkdir(parents=True, exist_ok=True)
            photo(rng).save(d / f"{split}_{i}.JPEG", quality=90)


def cli(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", "from ofa_deploy.cli import main; main()", *args],
                         capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - started, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--supernet", required=True)
    ap.add_argument("--images", type=int, default=2000, help="training JPEGs (BN images)")
    ap.add_argument("--val", type=int, default=200, help="val JPEGs (export verification)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--subnets", type=int, default=2, help="predictor dataset subnets (0: skip)")
    ap.add_argument("--skip-export", action="store_true")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-imagenet-") as tmp:
        root = Path(tmp) / "imnet"
        t0 = time.perf_counter()
        write_folder(root, a.images, a.val)
        rows.append(("write folder", f"{a.images} train + {a.val} val JPEGs 500x375", time.perf_counter() - t0))
        arch = Path(tmp) / "arch.json"
        arch.write_text(json.dumps({"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "image_size": 224}))
        if not a.skip_export:
            s, out = cli("export", "--supernet", a.supernet, "--subnet", str(arch), "--data", str(root),
                         "--format", "onnx", "--out", str(Path(tmp) / "m.onnx"), "--bn-images", str(a.images),
                         "--verify-images", str(a.val), "--workers", str(a.workers), "--json")
            r = json.loads(out)
            rows.append(("export --data (r=224, largest subnet)",
                         f"BN {r['bn']['images']} imgs, verify {r['verification']['images']}", s))
        if a.subnets:
            s, out = cli("predictor", "dataset", "--supernet", a.supernet, "--data", str(root), "--samples",
                         str(a.subnets), "--out", str(Path(tmp) / "acc"), "--bn-images", str(a.images // 2),
                         "--val-images", str(a.images // 2), "--workers", str(a.workers), "--threads", "2", "--json")
            summ = json.loads(out)
            rows.append((f"predictor dataset ({a.subnets} subnets, sampled r)",
                         f"BN {summ['bn_images']} + eval {summ['val_images']} imgs",
                         summ["seconds_per_subnet"]))
    print(f"{'step':44} {'what':40} {'seconds':>8}")
    for name, what, s in rows:
        print(f"{name:44} {what:40} {s:8.1f}")
    print("uptime:", os.popen("uptime").read().strip())


if __name__ == "__main__":
    main()
