"""int8 latency tables: the block models and whole subnets an int8 table times, quantised as they ship.

A table of `precision: int8` must time int8 programs, or `search --precision int8` optimises the
wrong costs (issue 29, item 1). Each block is quantised with representative inputs: the real
activations that reach that block when a few dozen images of the supernet's dataset (random N(0,1)
images when it has none) flow through the covering subnet that holds the block (`covering_archs`),
so its quantisation ranges are those of a deployed subnet. The in-context fit's whole subnets are
quantised whole, on the images themselves: the int8 file `export --int8` would ship.

The recipe is the export's (`runtime.int8`: onnxruntime static QDQ, per-channel int8 weights);
`.tflite` blocks for LiteRT and phones are quantised by a `tflite` callable the caller passes in
(`devices.bundle` passes ai-edge-quantizer through `export.quantize`, which this layer may not
import). What was done is recorded in the table's `meta.yaml` (`int8`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..space import FamilySpec
from .blocks import arch_keys

PRECISIONS = ("fp32", "int8")   # what a latency table can be measured in
DEFAULT_IMAGES = 32              # representative images per resolution ("a few dozen")
Images = Callable[[int, int], np.ndarray]   # (resolution, n) -> (n, C, r, r) float32 images


def check_precision(precision: str) -> str:
    from ..errors import LatencyTableError

    if precision not in PRECISIONS:
        raise LatencyTableError(f"latency tables are measured in {' or '.join(PRECISIONS)}, not {precision!r}")
    return precision


def random_images(spec: FamilySpec) -> Images:
    """N(0,1) images (a space with random weights and no dataset): what `export` calibrates on then."""

    def images(r: int, n: int) -> np.ndarray:
        return np.random.default_rng([1, r]).standard_normal((n, spec.in_channels, r, r)).astype(np.float32)

    return images


@dataclass
class Int8Calibration:
    """Where an int8 table's representative inputs come from, and the block inputs made from them."""

    images: Images
    description: str
    n_images: int = DEFAULT_IMAGES
    _cache: dict[int, np.ndarray] = field(default_factory=dict)

    def at(self, r: int) -> np.ndarray:
        if r not in self._cache:
            x = np.ascontiguousarray(self.images(r, self.n_images), dtype=np.float32)
            if not len(x):
                from ..errors import LatencyTableError

                raise LatencyTableError(f"no representative images at r={r} ({self.description})")
            self._cache[r] = x
        return self._cache[r]

    def record(self) -> dict[str, Any]:
        """What `meta.yaml` keeps under `int8`."""
        from ..runtime.int8 import RECIPE

        return {"images": self.n_images, "source": self.description, "onnx": RECIPE,
                "block_inputs": "the activations reaching each block in its covering subnet"}

    def block_inputs(self, net: Any, spec: FamilySpec, r: int, keys: list[str]) -> dict[str, np.ndarray]:
        """The input batch of every key (N, C, H, W): the images run through the covering subnets."""
        return dict(self.iter_block_inputs(net, spec, r, keys))

    def iter_block_inputs(self, net: Any, spec: FamilySpec, r: int, keys: list[str]) -> Iterator[tuple[str, np.ndarray]]:
        """(key, input batch) of every key, one at a time (only the current one is held: a large
        space's activations at a high resolution add up)."""
        import torch

        from .block_models import covering_archs

        todo = set(keys)
        images = torch.from_numpy(self.at(r))
        for arch in covering_archs(spec, r):
            if not todo:
                break
            sub = net.extract(arch).eval()
            x = images
            with torch.no_grad():
                for key, layer in zip(arch_keys(spec, arch), sub.layer_sequence()):
                    if key in todo:
                        todo.discard(key)
                        yield key, x.numpy().copy()
                    x = layer(x)

    def quantise_blocks(self, models: list[Any], net: Any, spec: FamilySpec, r: int,
                        tflite: Callable[[Any, np.ndarray], None] | None = None) -> None:
        """Give every block model of resolution `r` its int8 form: `onnx_bytes` (ONNX) and, with
        `tflite(model, inputs)`, whatever that callable writes (an int8 `.tflite`)."""
        from ..runtime.int8 import quantize_onnx_bytes
        from .block_models import onnx_bytes

        by_key = {m.key: m for m in models}
        for key, batch in self.iter_block_inputs(net, spec, r, list(by_key)):
            m = by_key[key]
            if tflite is not None:
                tflite(m, batch)
                continue
            fp32 = m.onnx_bytes if m.onnx_bytes is not None else onnx_bytes(m.module, m.input_shape)
            m.onnx_bytes = quantize_onnx_bytes(fp32, [batch[i:i + 1] for i in range(len(batch))], "x")

    def quantise_subnet(self, fp32: bytes, r: int) -> bytes:
        """The int8 form of a whole stitched subnet (input `x`), calibrated on the images at `r`."""
        from ..runtime.int8 import quantize_onnx_bytes

        x = self.at(r)
        return quantize_onnx_bytes(fp32, [x[i:i + 1] for i in range(len(x))], "x")


__all__ = ["DEFAULT_IMAGES", "PRECISIONS", "Int8Calibration", "check_precision", "random_images"]
