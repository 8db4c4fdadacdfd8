"""The official OFA per-resolution lookup tables (`<r>_lookup_table.yaml`, values `{count, mean,
std}`; ProxylessNAS's hold `var`): read into rows, and a table's rows written back in that form.
(`latency.table.import_official` makes the `LatencyTable` of what is read here.)"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml

from ..errors import LatencyTableError
from ..fsio import atomic_write_text
from ..space import FamilySpec
from .blocks import resolution_keys
from .rows import Row, check_row

OFFICIAL_STATS = ("mean", "median")  # what an official table's `mean` may hold (`lut export --stat`)

OFFICIAL_NAME = re.compile(r"(\d+)_lookup_table\.ya?ml$")


class _TableRows(Protocol):
    """What `export_official` reads of a `LatencyTable`."""

    @property
    def resolutions(self) -> tuple[int, ...]: ...

    @property
    def rows(self) -> list[Row]: ...


def official_resolution(path: Path, data: dict[str, Any]) -> int:
    m = OFFICIAL_NAME.search(Path(path).name)
    if m:
        return int(m.group(1))
    for k in data:
        if str(k).startswith("Conv-input:"):
            return int(str(k).split(":")[1].split("x")[0])
    raise LatencyTableError(f"{path}: cannot tell the resolution (name it <r>_lookup_table.yaml)")


def read_official(yaml_paths: Sequence[str | os.PathLike], spec: FamilySpec) -> list[Row]:
    """The rows of the official per-resolution tables; every key the space needs at each
    resolution must be present."""
    rows: list[Row] = []
    for p in yaml_paths:
        p = Path(p)
        try:
            data = yaml.safe_load(p.read_text())
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
            why = getattr(e, "strerror", None) or (str(e).splitlines() or [type(e).__name__])[0]
            raise LatencyTableError(f"{p}: cannot read as an official lookup table ({why})") from None
        if not isinstance(data, dict) or not data:
            raise LatencyTableError(f"{p}: an official lookup table is a mapping of key -> {{count, mean, std}}")
        r = official_resolution(p, data)
        needed = resolution_keys(spec, r).distinct()
        missing = [k for k in needed if k not in data]
        if missing:
            raise LatencyTableError(
                f"{p}: {len(missing)} of the {len(needed)} keys of the space {spec.describe()} at resolution "
                f"{r} are absent (first: {missing[0]}); is it a table of another space (--kind, --width, --expands)?"
            )
        for key, v in data.items():
            try:
                std = float(v["std"]) if v.get("std") is not None else (
                    math.sqrt(float(v["var"])) if v.get("var") is not None else math.nan)  # ProxylessNAS's: var
                row = Row(str(key), r, int(v.get("count", 0)), float(v["mean"]), std=std)
            except (AttributeError, KeyError, TypeError, ValueError):
                raise LatencyTableError(f"{p}: entry {key} lacks a numeric 'mean'") from None
            check_row(row, str(p))
            rows.append(row)
    return rows


def official_metadata(yaml_paths: Sequence[str | os.PathLike], device: str, source: str | None) -> dict[str, Any]:
    """The metadata of a table imported from official files (its statistic is `mean`, as the
    official predictor uses it)."""
    return {
        "device": device,
        "backend": "official",
        "source": source or "imported official OFA lookup tables",
        "files": [Path(p).name for p in yaml_paths],
        "stat": "mean",
        "calibration": None,
    }


def export_official(table: _TableRows, out_dir: str | os.PathLike, stat: str = "mean") -> list[Path]:
    """Write `<r>_lookup_table.yaml` per resolution, in the official form (`mean` holds `stat`)."""
    if stat not in OFFICIAL_STATS:
        raise LatencyTableError(f"export statistic must be 'mean' or 'median', got {stat!r}")
    out = Path(out_dir)
    docs = {}
    for r in table.resolutions:
        doc = {}
        for row in sorted((x for x in table.rows if x.resolution == r), key=lambda x: x.key):
            value = row.value(stat)
            if math.isnan(value):
                raise LatencyTableError(f"row {row.key} at {r} has no {stat}; export with --stat mean")
            entry: dict[str, Any] = {"count": row.count, "mean": value}
            entry["std"] = None if math.isnan(row.std) else row.std
            doc[row.key] = entry
        docs[r] = doc
    created = not out.exists()
    written: list[Path] = []
    try:
        for r, doc in docs.items():
            p = out / f"{r}_lookup_table.yaml"
            atomic_write_text(p, yaml.safe_dump(doc, sort_keys=True))
            written.append(p)
    except BaseException:
        if created:  # a folder this call made holds only what it wrote: leave nothing behind
            for p in written:
                p.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    return written


__all__ = ["OFFICIAL_NAME", "export_official", "official_metadata", "official_resolution", "read_official"]
