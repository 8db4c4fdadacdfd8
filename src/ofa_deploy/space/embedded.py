"""The space of our supernet checkpoint, stored as a JSON record inside its zip and read without torch.

Why: `search --supernet F.pt` needs only the checkpoint's space, and `search` must start fast
(importing torch costs ~2 s) and must never unpickle a file it was handed. `torch.save` writes a
zip archive (`<name>/data.pkl`, `<name>/data/<n>`, ...); `save_supernet` appends one more member,
`<name>/ofa-deploy/space.json`, that `torch.load` ignores and that is read here with `zipfile` and
`json` alone. A file without that record (an official checkpoint, one written before the record
existed) reads as None: the caller then loads it with torch's weights-only reader.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, SpaceError
from .family import spec_from_dict

SUPERNET_FORMAT = "ofa-deploy-supernet"
RECORD = "ofa-deploy/space.json"


def _prefix(names: list[str]) -> str | None:
    """The archive's folder (`<name>/`), from its `data.pkl` member; None when it has none."""
    for n in names:
        if n == "data.pkl" or n.endswith("/data.pkl"):
            return n[: -len("data.pkl")]
    return None


def add_space_record(path: str | os.PathLike, spec: Any) -> None:
    """Append the space record to a zip written by `torch.save` (its other members stay byte-identical)."""
    with zipfile.ZipFile(path, "a") as z:
        prefix = _prefix(z.namelist())
        if prefix is None:
            raise CheckpointError(f"{path}: not a torch zip archive; cannot embed the space")
        doc = {"format": SUPERNET_FORMAT, "version": 1, "spec": spec.to_dict()}
        z.writestr(prefix + RECORD, json.dumps(doc, sort_keys=True))


def read_space_record(path: str | os.PathLike) -> Any:
    """The space recorded in our checkpoint; None when the file carries no record (not a zip, or
    a zip without it). A record that is there but unreadable is an error."""
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(f"{p} is a folder; give a supernet checkpoint file (.pt)")
    try:
        with zipfile.ZipFile(p) as z:
            prefix = _prefix(z.namelist())
            if prefix is None or prefix + RECORD not in z.namelist():
                return None
            raw = z.read(prefix + RECORD)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError):
        return None
    except OSError as e:
        raise CheckpointError(f"{p}: cannot read ({e.strerror or type(e).__name__})") from None
    try:
        doc: Any = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("format") != SUPERNET_FORMAT:
            raise ValueError("not an ofa-deploy supernet record")
        return spec_from_dict(doc.get("spec"))
    except (ValueError, SpaceError) as e:
        raise CheckpointError(f"{p}: corrupt space record {RECORD} ({str(e).splitlines()[0]}); "
                              "the checkpoint is damaged, restore or re-export it") from None
