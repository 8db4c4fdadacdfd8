"""One ONNX export per distinct block in a test session.

Every `profile` a test runs in-process exports each block of the space with `torch.onnx.export`
(`latency.block_models.onnx_bytes`): twice for a default profile (the isolated stage, then the
in-context stage's parts), ~0.1 s a block, 96 blocks a resolution for the tests' small space. The
blocks come from the same seeded or shipped supernet every time, so most of those exports repeat
one another. `remember_block_exports` wraps `onnx_bytes` with a memo whose key is everything the
export reads (the module's structure and mode, every parameter and buffer, the input shape): a hit
returns the bytes the real exporter produced for an identical module. It still draws the example
input, so the global torch RNG moves exactly as without the memo. Only `onnx_bytes` is wrapped;
whole-subnet exports (`export`) and tests that call `onnx_bytes` by their own import run the
exporter each time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest


def module_digest(module, input_shape: tuple[int, ...]) -> str:
    """sha256 over what an ONNX export of `module` at `input_shape` depends on."""
    import torch

    h = hashlib.sha256()
    h.update(repr(module).encode())
    h.update(repr(tuple(input_shape)).encode())
    for m in module.modules():
        h.update(f"{type(m).__module__}.{type(m).__qualname__}:{m.training}".encode())
    for name, t in module.state_dict(keep_vars=False).items():
        t = t.detach().contiguous().cpu()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def memoised(real: Callable, store: dict[str, bytes]) -> Callable:
    import torch

    def onnx_bytes(module, input_shape):
        key = module_digest(module.eval(), input_shape)
        if key in store:
            torch.randn(*input_shape)  # the draw the real call makes
            return store[key]
        store[key] = real(module, input_shape)
        return store[key]

    onnx_bytes.__wrapped__ = real  # type: ignore[attr-defined]
    return onnx_bytes


@contextmanager
def remember_block_exports() -> Iterator[dict[str, bytes]]:
    """Within the block, `latency.block_models.onnx_bytes` returns remembered exports."""
    from ofa_deploy.latency import block_models

    store: dict[str, bytes] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(block_models, "onnx_bytes", memoised(block_models.onnx_bytes, store))
        yield store
