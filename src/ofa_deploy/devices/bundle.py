"""The one thing a remote profile sends to a device: every block model it still needs, a manifest,
the standalone runner and the measurement protocol it imports.

A `.tflite` conversion takes seconds per block, so converted files are cached on this machine
(`paths.block_cache_dir()`: `$OFA_DEPLOY_CACHE/blocks/tflite/<digest>.tflite`, default under
`~/.cache/ofa-deploy`), keyed by a
digest of the module's structure, weights, input shape and converter version: a rerun after a
dropped connection, or another device that runs the same format, converts nothing again; two
profiles running at once split the conversions between them (`cached_conversion`). ONNX
exports take milliseconds and are made afresh.

Layout of a bundle folder (what lands on the device):

    manifest.json        block_models' manifest: format, entries (key, resolution, input_shape, path)
    <r>/<n>.<fmt>        one model per entry
    remote_runner.py     devices/remote_runner.py
    ofa_protocol.py      latency/protocol.py, verbatim (the runner imports it: one protocol, not a copy)
    run.json             runtime, threads, cores, delegate, protocol, guard settings (SSH only)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..fsio import atomic_path, claimed
from ..latency import protocol as _protocol
from ..latency.block_models import (
    LATER,
    MANIFEST,
    BlockModel,
    block_models,
    export_block_models,
    write_block_model,
)
from ..paths import block_cache_dir
from ..runtime.quiet import captured_output

RUNNER = Path(__file__).with_name("remote_runner.py")
PROTOCOL = Path(_protocol.__file__)
RUN_FILE = "run.json"
CACHED = ("tflite",)   # an ONNX export takes milliseconds: hashing and caching it would cost more

Progress = Callable[[int, int, int, bool], None]   # (resolution, done, total, from cache)


@dataclass
class Bundle:
    folder: Path
    fmt: str
    models: dict[str, BlockModel] = field(default_factory=dict)   # name ("r/key") -> model
    converted: int = 0
    cached: int = 0

    @property
    def bundle_id(self) -> str:
        """Digest of the manifest, the run settings and the runner's sources (names the remote folder)."""
        h = hashlib.sha256()
        for name in (MANIFEST, RUN_FILE, "remote_runner.py", "ofa_protocol.py"):
            p = self.folder / name
            if p.exists():
                h.update(p.read_bytes())
        return h.hexdigest()[:16]

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.rglob("*") if p.is_file())

    @property
    def nbytes(self) -> int:
        return sum(p.stat().st_size for p in self.files())

    def write_run_config(self, config: dict[str, Any]) -> None:
        (self.folder / RUN_FILE).write_text(json.dumps(config, indent=1))



class TarStream:
    """A bundle streamed as an uncompressed tar (model weights do not compress), file by file:
    pass `add` as `build_bundle(on_file=...)` so the transfer overlaps the export."""

    def __init__(self, fileobj: IO[bytes], root: Path):
        self.root = Path(root)
        self.tar = tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115 (see close)
        self.nbytes = 0

    def add(self, path: Path) -> None:
        info = self.tar.gettarinfo(str(path), arcname=str(Path(path).relative_to(self.root)))
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        with open(path, "rb") as f:
            self.tar.addfile(info, f)
        self.nbytes += info.size

    def close(self) -> None:
        self.tar.close()

    def abandon(self) -> None:
        """The receiver went away mid-stream: drop the stream without writing its end. Otherwise
        tarfile's stream flushes on garbage collection into the closed pipe, and Python prints
        `Exception ignored in: <function _Stream.__del__ ...> ValueError: write to closed file`."""
        stream = self.tar.fileobj
        if stream is not None and hasattr(stream, "closed"):
            stream.closed = True
        self.tar.closed = True


def model_digest(m: BlockModel, fmt: str) -> str:
    """Structure, weights, input shape and converter version of a block: the cache key."""
    import torch

    assert m.module is not None
    h = hashlib.sha256()
    if fmt == "tflite":
        from importlib.metadata import PackageNotFoundError, version

        try:
            conv = "litert-torch " + version("litert-torch")
        except PackageNotFoundError:
            conv = "litert-torch ?"
    else:
        conv = f"torch {torch.__version__} onnx"
    h.update(f"{fmt}|{conv}|{tuple(m.input_shape)}|{m.module!r}".encode())
    for k, v in m.module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:32]


def cached_conversion(m: BlockModel, fmt: str, cache_dir: Path, wait: bool = True) -> tuple[Path, bool] | None:
    """The block's `fmt` file in the conversion cache (`cache_dir/<digest>.<fmt>`) and whether this call made
    it. Two processes sharing the cache (two profiles at once) convert each block once: the one that claims
    it converts (`fsio.claimed`), the other waits for it, or, with `wait=False`, gets None at once and can
    convert another block first."""
    cached = cache_dir / f"{model_digest(m, fmt)}.{fmt}"
    if cached.exists():
        return cached, False
    with claimed(cached, wait=wait) as mine:
        if not mine:
            return None
        if cached.exists():  # made by the process that held the claim before this one
            return cached, False
        with atomic_path(cached) as tmp, captured_output():  # litert-torch logs; keep them off the bar
            write_block_model(m.module, m.input_shape, tmp, fmt)
    return cached, True


def build_bundle(todo: dict[int, list[str]], spec: Any, net: Any, fmt: str, folder: str | os.PathLike,
                 cache: str | os.PathLike | None = None, on_progress: Progress | None = None,
                 run_config: dict[str, Any] | None = None, on_file: Callable[[Path], None] | None = None,
                 models: list[BlockModel] | None = None, extra: list[BlockModel] | None = None) -> Bundle:
    """Export the plan's missing keys (`{resolution: [key, ...]}`) as `fmt` into `folder`; or, given
    `models` (whole subnets for `latency validate` and `search --verify`, or the plan's blocks
    already exported to ONNX), those instead; then the `extra` models (the in-context fit's whole
    subnets, timed in the same bundle as the blocks). A model without a module but with a
    `<fmt>_path` (an exported file `benchmark` times) is copied; a model with `onnx_bytes` (already
    exported, or stitched from the blocks' graphs) is written as it is.

    `on_file(path)` hears of every file as soon as it is complete, in an order a receiver can use
    while the export goes on: the protocol and `run.json` first, the models one by one, the
    manifest last (so a streamed bundle is complete when its manifest arrives)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cache_dir = (Path(cache) if cache is not None else block_cache_dir()) / fmt
    cache_dir.mkdir(parents=True, exist_ok=True)
    bundle = Bundle(folder, fmt)
    shutil.copyfile(RUNNER, folder / "remote_runner.py")
    shutil.copyfile(PROTOCOL, folder / "ofa_protocol.py")
    if run_config is not None:
        bundle.write_run_config(run_config)
    if on_file is not None:
        on_file(folder / "ofa_protocol.py")
        if run_config is not None:
            on_file(folder / RUN_FILE)
    if models is None:
        models = []
        for r, keys in todo.items():
            models += block_models(net, spec, r, keys)
    models = list(models) + list(extra or [])
    total = len(models)
    done = 0

    def write(m: BlockModel, path: Path, fmt_: str, wait: bool) -> str | None:
        nonlocal done
        hit = False
        given = getattr(m, f"{fmt_}_path", None) if m.module is None else None
        if given is not None:  # an exported file (`benchmark`): sent as it is
            shutil.copyfile(given, path)
        elif fmt_ == "onnx" and m.onnx_bytes is not None:  # exported already, or stitched (`--method fit`)
            path.write_bytes(m.onnx_bytes)
        elif fmt_ in CACHED:
            got = cached_conversion(m, fmt_, cache_dir, wait=wait)
            if got is None:  # another process is converting it: the others first, then wait for it
                return LATER
            cached, made = got
            hit = not made
            try:
                os.link(cached, path)
            except OSError:
                shutil.copyfile(cached, path)
        else:
            write_block_model(m.module, m.input_shape, path, fmt_)
        bundle.cached += hit
        bundle.converted += not hit
        done += 1
        if on_file is not None:
            on_file(path)
        if on_progress is not None:
            on_progress(m.resolution, done, total, hit)
        return None

    export_block_models(models, folder, fmt, write=write)
    if on_file is not None:
        on_file(folder / MANIFEST)
    bundle.models = {m.name: m for m in models}
    return bundle
