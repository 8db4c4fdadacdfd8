"""Where things live: the one place that knows the folders of ofa-deploy.

Two kinds of location, never mixed:

- **User data** (tables the user profiles, calibrations, the records of the last profile / search /
  export, search outputs) lives in the user's data folder: `$OFA_DEPLOY_HOME` if set, else
  `$XDG_DATA_HOME/ofa-deploy`, else `~/.local/share/ofa-deploy`. Caches (converted block models)
  live in `$OFA_DEPLOY_CACHE`, else `$XDG_CACHE_HOME/ofa-deploy`, else `~/.cache/ofa-deploy`.
  Nothing is ever written into the install tree.
- **Shipped resources** (device descriptors, latency tables, recipes, the demo supernet and its
  predictor) are read from the installed package (see `shipped_*` below).

Why not `platformdirs`: on Linux, the only platform the tool runs on, it computes exactly the XDG
rule above; the rule is three lines and keeping it here avoids a dependency.
"""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser() if value else Path.home() / default


def user_data_dir() -> Path:
    """Root of the user's data (not created here)."""
    env = os.environ.get("OFA_DEPLOY_HOME")
    if env:
        return Path(env).expanduser()
    return _xdg("XDG_DATA_HOME", ".local/share") / "ofa-deploy"


def cache_dir() -> Path:
    """Root of caches that may be deleted at any time (not created here)."""
    env = os.environ.get("OFA_DEPLOY_CACHE")
    if env:
        return Path(env).expanduser()
    return _xdg("XDG_CACHE_HOME", ".cache") / "ofa-deploy"


def user_tables_dir() -> Path:
    """Latency tables the user profiled or calibrated: `<data>/latency_tables/<device>/<space tag>/`.
    `$OFA_DEPLOY_TABLES` overrides it."""
    env = os.environ.get("OFA_DEPLOY_TABLES")
    return Path(env).expanduser() if env else user_data_dir() / "latency_tables"


def records_dir() -> Path:
    """Records that chain the commands (`last_profile.json`, `last_search.json`, `last_export.json`)."""
    return user_data_dir() / "records"


def searches_dir() -> Path:
    """Default folder of search outputs."""
    return user_data_dir() / "searches"


__all__ = ["cache_dir", "records_dir", "searches_dir", "user_data_dir", "user_tables_dir"]
