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

`FolderStore` keeps the memo in a folder as well, one file per key, so that the workers of a parallel
run (pytest-xdist) share it: the first worker to export a block writes its bytes, the others read them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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


class FolderStore(dict):
    """The memo's dict, backed by `folder/<key>.onnx`: a key another process stored there is found too.
    Files are written with `fsio.atomic_write_bytes` (temporary name, rename), so a reader never sees half
    an export; two processes storing one key write the same bytes, and the last rename wins."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.onnx"

    def __contains__(self, key: object) -> bool:
        if super().__contains__(key):
            return True
        try:
            data = self._path(str(key)).read_bytes()
        except FileNotFoundError:
            return False
        super().__setitem__(key, data)
        return True

    def __setitem__(self, key: str, data: bytes) -> None:
        from ofa_deploy.fsio import atomic_write_bytes

        super().__setitem__(key, data)
        atomic_write_bytes(self._path(key), data)


@contextmanager
def remember_block_exports(folder: Path | None = None) -> Iterator[dict[str, bytes]]:
    """Within the block, `latency.block_models.onnx_bytes` returns remembered exports (kept in `folder`
    too when given: `FolderStore`)."""
    from ofa_deploy.latency import block_models

    store: dict[str, bytes] = {} if folder is None else FolderStore(folder)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(block_models, "onnx_bytes", memoised(block_models.onnx_bytes, store))
        yield store
