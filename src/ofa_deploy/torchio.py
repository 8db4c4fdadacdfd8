"""Read torch files (checkpoints, training states, the official predictor) safely: weights only.

A top-level helper, not part of `nn`: `space.checkpoint_space` reads an official checkpoint's
tensor shapes with it, and `space` sits below `nn` (the supernet is built from a `SpaceSpec`).
torch is imported when a file is read, never on import.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

from .errors import CheckpointError


def torch_save(obj: Any, path: str | os.PathLike) -> None:
    """`torch.save(obj)` into `path` through an open Python file (call it on `fsio.atomic_path`'s
    temporary name). Why not torch.save(obj, path): torch's own file writer turns a full disk into
    a bare RuntimeError ("unexpected pos"), while through a Python file it is the OS's OSError
    (ENOSPC), which `fsio` turns into one line."""
    import torch

    with open(path, "wb") as f:
        torch.save(obj, f)


def safe_torch_load(path: str | os.PathLike, what: str = "checkpoint",
                    hint: str = "give a file written by torch.save") -> Any:
    """`torch.load(weights_only=True)` (zip and legacy files alike), every failure one line.

    Why catch every Exception: whatever torch's readers raise on a damaged or crafted file
    (UnpicklingError, RuntimeError from the zip reader, KeyError, struct errors...) means the
    same thing to the user, and the weights-only unpickler refuses any object it does not know
    before building it, so nothing of the file ran. Torch's warnings about the file (pickle
    protocol, ...) are silenced: the outcome is the one line below or the loaded object.
    """
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such {what} file")
    if p.is_dir():
        raise CheckpointError(f"{p} is a folder; give a {what} file")
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 (any failure to parse means one thing: see the docstring)
        raise CheckpointError(f"{p}: not a readable {what} ({_load_failure(e)}); {hint}") from None


def _load_failure(e: Exception) -> str:
    """One line for what torch.load raised (its weights-only messages span many lines)."""
    text = str(e)
    refused = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if refused:
        return f"it holds {refused.group(1)}, which is not tensor data; such files are never loaded"
    detail = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
    first = detail.group(1) if detail else (text.strip().splitlines() or [""])[0]
    first = first.strip().split(". ")[0][:160]  # torch's zip reader appends an internal-error notice
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    obj = safe_torch_load(path)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")
    return obj
