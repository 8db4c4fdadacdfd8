"""The user state folder and the `last_search` pointer: `export` defaults to the last search's subnet.

Why a pointer file rather than a fixed output name: searches write their subnet wherever the user
asks (or under the state folder), and the next command (`ofa-deploy export`) should not need the
path repeated. The folder is `$OFA_DEPLOY_HOME` if set, else `$XDG_CACHE_HOME/ofa-deploy`, else
`~/.cache/ofa-deploy`. `last_search.json` holds `{"path": <absolute subnet file>, "paths": [all
files of that run], "time": <ISO UTC>, "budget": {...}}`, written atomically.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import FormatError
from ..fsio import atomic_write_text

POINTER = "last_search.json"


def state_dir() -> Path:
    env = os.environ.get("OFA_DEPLOY_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ofa-deploy"


def searches_dir() -> Path:
    """Default folder of search outputs."""
    return state_dir() / "searches"


def remember_last_search(path: str | os.PathLike, paths: list[str | os.PathLike] | None = None,
                         **info: Any) -> Path:
    """Point `last_search` at `path` (a subnet file); returns the pointer file."""
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "path": str(Path(path).resolve()),
        "paths": [str(Path(p).resolve()) for p in (paths or [path])],
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **info,
    }
    return atomic_write_text(folder / POINTER, json.dumps(doc, indent=2) + "\n")


def last_search_info() -> dict[str, Any] | None:
    p = state_dir() / POINTER
    if not p.exists():
        return None
    try:
        doc = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) and "path" in doc else None


def last_search_path() -> Path:
    """The subnet file of the last search; `FormatError` saying what to do when there is none."""
    info = last_search_info()
    if info is None:
        raise FormatError(f"no search has been run yet (no {state_dir() / POINTER}); run `ofa-deploy search "
                          "--device D --latency 25ms` first, or give a subnet file")
    p = Path(info["path"])
    if not p.exists():
        raise FormatError(f"the last search's subnet file {p} no longer exists; run the search again or give a "
                          "subnet file")
    return p
