"""Export's cache: the BN-recalibrated subnet and its fp32 `.tflite`, so a second export of the same
subnet (TFLite after ONNX, int8 after fp32) neither recalibrates BN nor converts again (issue 29, item 5).

An entry is keyed by everything its content depends on: the supernet's sha256 (not its path), the
subnet's arch, the BN images (dataset description, `--data` folder, skipped-image policy), the BN
settings (images, batch, transform, or "not recalibrated") and the torch version; the fp32 `.tflite`
also by the litert-torch version. Entries live in `paths.export_cache_dir()` as
`<digest>.bn.pt` (the subnet's state dict and the BN record, read with `weights_only=True`, so
nothing in a cache file is executed) and `<digest>.fp32.tflite`; both are written atomically, and an
unreadable entry is dropped and recomputed. The cache may be deleted at any time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..fsio import atomic_path, sha256_file
from ..paths import export_cache_dir


@dataclass(frozen=True)
class CacheKey:
    fields: dict[str, Any]

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.fields, sort_keys=True).encode()).hexdigest()[:32]

    def path(self, kind: str) -> Path:
        return export_cache_dir() / f"{self.digest}.{kind}"

    def derived(self, **more: Any) -> CacheKey:
        return CacheKey({**self.fields, **more})


def subnet_key(supernet: str | os.PathLike, arch: dict[str, Any], bn: dict[str, Any]) -> CacheKey:
    """The key of a recalibrated subnet: `bn` holds the BN data and settings (or {"recalibrated": False})."""
    return CacheKey({"supernet_sha256": sha256_file(supernet), "arch": arch, "bn": bn, "torch": torch.__version__})


def load_bn(key: CacheKey, module: nn.Module) -> dict[str, Any] | None:
    """Load the cached BN statistics (and all weights) into `module`; the BN record, or None on a miss."""
    path = key.path("bn.pt")
    if not path.is_file():
        return None
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
        if entry.get("key") != key.digest:
            raise ValueError("key mismatch")
        module.load_state_dict(entry["state_dict"])
        return dict(entry["bn"])
    except Exception:  # noqa: BLE001 - torch.load of torn bytes raises anything (IndexError, EOFError...)
        # a torn or foreign file: recompute, and let the next save replace it
        path.unlink(missing_ok=True)
        return None


def save_bn(key: CacheKey, module: nn.Module, bn: dict[str, Any]) -> None:
    path = key.path("bn.pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"key": key.digest, "state_dict": module.state_dict(), "bn": bn}, tmp)


def cached_file(key: CacheKey, kind: str) -> Path | None:
    path = key.path(kind)
    return path if path.is_file() and path.stat().st_size > 0 else None


def store_file(key: CacheKey, kind: str, source: Path) -> None:
    path = key.path(kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, keep_suffix=True) as tmp:
        shutil.copyfile(source, tmp)


__all__ = ["CacheKey", "cached_file", "load_bn", "save_bn", "store_file", "subnet_key"]
