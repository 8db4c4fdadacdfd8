"""Where things live: the one place that knows the folders of ofa-deploy.

Two kinds of location, never mixed:

- **User data** (tables the user profiles, calibrations, the records of the last profile / search /
  export, search outputs) lives in the user's data folder: `$OFA_DEPLOY_HOME` if set, else
  `$XDG_DATA_HOME/ofa-deploy`, else `~/.local/share/ofa-deploy`. Caches (converted block models)
  live in `$OFA_DEPLOY_CACHE`, else `$OFA_DEPLOY_HOME/cache`, else `$XDG_CACHE_HOME/ofa-deploy`, else
  `~/.cache/ofa-deploy`.
  Nothing is ever written into the install tree.
- **Shipped resources** (device descriptors, latency tables, recipes, the demo supernet and its
  predictor) are read from the installed package through `importlib.resources` (`shipped_*`
  below), so a wheel, an editable install and `PYTHONPATH=src` all find the same files. They are
  read-only: whatever would change them (a calibration) writes a copy into user data instead.

How the repository's top-level `devices/` and `latency_tables/` (the source of what ships) get
into the package: `src/ofa_deploy/_data/devices` and `_data/latency_tables` are committed
symlinks to them. setuptools follows them when it builds a wheel (the files are copied in, as
package data), and an editable install or `PYTHONPATH=src` reads through them; so one lookup,
`resources.files("ofa_deploy") / "_data"`, serves every install kind.

Why not `platformdirs`: on Linux, the only platform the tool runs on, it computes exactly the XDG
rule above; the rule is three lines and keeping it here avoids a dependency.
"""

from __future__ import annotations

import os
from importlib import resources
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
    """Root of caches that may be deleted at any time (not created here). With `$OFA_DEPLOY_HOME`
    set (and no `$OFA_DEPLOY_CACHE`), `<home>/cache`: that variable moves everything ofa-deploy
    writes, so nothing lands in `~/.cache` behind it."""
    env = os.environ.get("OFA_DEPLOY_CACHE")
    if env:
        return Path(env).expanduser()
    if os.environ.get("OFA_DEPLOY_HOME"):
        return user_data_dir() / "cache"
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


def block_cache_dir() -> Path:
    """Converted block models (`<cache>/blocks/<format>/<digest>.<format>`), reused across profiles."""
    return cache_dir() / "blocks"


def export_cache_dir() -> Path:
    """Export's reusable work: BN-recalibrated subnets and their fp32 `.tflite` conversions
    (`<cache>/export/<digest>.*`), keyed by supernet sha256, subnet, BN data and settings."""
    return cache_dir() / "export"


def user_devices_dir() -> Path:
    """Device descriptors the user adds (`<data>/devices/NAME.yaml`); looked up before the shipped ones."""
    return user_data_dir() / "devices"


# ---- shipped resources (read-only) ------------------------------------------------------------
def shipped_dir() -> Path:
    """`ofa_deploy/_data` of the installed package: every shipped resource lives under it."""
    # A plain folder for every supported install (pip unpacks wheels; editable and PYTHONPATH=src
    # read the checkout), so a Path: callers glob and resolve it.
    return Path(str(resources.files(__package__))) / "_data"


def shipped_devices_dir() -> Path:
    """Shipped device descriptors (`cpu.yaml`, `rpi4.yaml`...): the repository's `devices/`."""
    return shipped_dir() / "devices"


def shipped_tables_dir() -> Path:
    """Shipped latency tables (`<device>/<space tag>/`): the repository's `latency_tables/`."""
    return shipped_dir() / "latency_tables"


def shipped_recipes_dir() -> Path:
    """Training recipes (`ofa_deploy/train/recipes/NAME.yaml`)."""
    return shipped_dir().parent / "train" / "recipes"


def shipped_recipe_names() -> list[str]:
    folder = shipped_recipes_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def shipped_recipe(name: str) -> Path | None:
    """The recipe file of that name, or None when no such recipe ships."""
    p = shipped_recipes_dir() / f"{name}.yaml"
    return p if p.is_file() else None


def shipped_finetune_recipe_names() -> list[str]:
    """Fine-tuning recipes (`ofa_deploy/train/recipes/finetune/NAME.yaml`, beside the training recipes)."""
    folder = shipped_recipes_dir() / "finetune"
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def shipped_finetune_recipe(name: str) -> Path | None:
    p = shipped_recipes_dir() / "finetune" / f"{name}.yaml"
    return p if p.is_file() else None


def shipped_supernet_dir() -> Path:
    """The demo supernet (`supernet.pt`), its training report and log, and its accuracy dataset."""
    return shipped_dir() / "demo-fmnist"


def shipped_supernet() -> Path:
    """The demo supernet's checkpoint (`nn.shipped.shipped_supernet_path` checks that it is there)."""
    return shipped_supernet_dir() / "supernet.pt"


def shipped_predictors_dir() -> Path:
    return shipped_dir() / "predictors"


def shipped_predictor() -> Path:
    """The demo supernet's accuracy predictor (what `search` uses when none is given)."""
    return shipped_predictors_dir() / "demo.npz"


def is_shipped(path: str | os.PathLike) -> bool:
    """True when `path` lies among the shipped resources (symlinks resolved): never write there."""
    p = Path(path).resolve()
    roots = {d.resolve() for d in (shipped_dir(), shipped_devices_dir(), shipped_tables_dir())}
    return any(p == r or r in p.parents for r in roots)


__all__ = [
    "block_cache_dir", "cache_dir", "export_cache_dir", "is_shipped", "records_dir", "searches_dir",
    "shipped_devices_dir", "shipped_dir", "shipped_finetune_recipe", "shipped_finetune_recipe_names",
    "shipped_predictor", "shipped_predictors_dir", "shipped_recipe", "shipped_recipe_names",
    "shipped_recipes_dir", "shipped_supernet", "shipped_supernet_dir", "shipped_tables_dir", "user_data_dir", "user_devices_dir",
    "user_tables_dir",
]
