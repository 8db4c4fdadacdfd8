"""The design card's flow, word for word: `profile --device note8` -> `search --latency 22ms` ->
`export --format tflite` -> `benchmark`. What each step takes from the records of the one before
when the user does not say, and the next command each step suggests.

- `search` without `--device`: the device of the last `profile` (and its table folder, when that
  table is of the searched space), else `DEFAULT_DEVICE`, as `profile` does. Table resolution
  itself is `search.sources.resolve_table`'s; this only chooses what to pass it.
- `export` without `--subnet`: the last search's subnet file. Without `--supernet`: the fine-tuned
  checkpoint of that very subnet file when `finetune` made one (the last `finetune` record), else
  the checkpoint the subnet was searched for (recorded in the subnet file by `search`), else the
  last search's, else the shipped demo supernet.
- `finetune` without `--subnet` / `--supernet`: the same subnet and supernet as `export` (never a
  fine-tuned checkpoint: it starts from the supernet).
- `benchmark` without a file: the last export (checked unchanged by its sha256), on the device its
  subnet was searched for; on an ssh / adb device, with the connection options (`--host`,
  `--serial`, `--benchmark-binary`) the last `profile` of that device was given, unless given again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import records
from .errors import OfaDeployError
from .fsio import sha256_file
from .space import FamilySpec, spec_from_dict

DEFAULT_DEVICE = "cpu"
# `nn.shipped.shipped_supernet_path()`, named here without importing torch (`search` starts fast).
SHIPPED_SUPERNET = Path(__file__).resolve().parent / "_data" / "demo-fmnist" / "supernet.pt"


def search_device(device: str | None, table: str | os.PathLike | None, spec: FamilySpec,
                  needs_latency: bool) -> tuple[str | None, Path | None, list[str]]:
    """(device, table folder or None, notes to show) for a search of `spec`."""
    if table is not None:
        return device, Path(table), []
    if device is None and not needs_latency:
        return None, None, []
    last = records.read_record(records.PROFILE)
    given = device is not None
    if device is None:
        device = str(last["device"]) if last is not None and last.get("device") else DEFAULT_DEVICE
    folder = _profiled_table(last, device, spec)
    if given:
        notes = [f"latency table {folder}: measured by the last `ofa-deploy profile`"] if folder else []
    elif last is not None and last.get("device") == device:
        notes = [f"device {device}" + (f" and its table {folder}" if folder else "")
                 + ": the last `ofa-deploy profile`'s (give --device to choose)"]
    else:
        notes = [f"device {device}: the default (no --device given and no profile recorded)"]
    return device, folder, notes


def _profiled_table(last: dict[str, Any] | None, device: str, spec: FamilySpec) -> Path | None:
    """The last profile's table folder, when it was measured on `device` for this space and still exists."""
    if last is None or last.get("device") != device or not last.get("table"):
        return None
    try:
        same = spec_from_dict(last.get("space") or {}).same_space(spec)
    except OfaDeployError:  # a record from another version: ignore it rather than fail the search
        return None
    folder = Path(last["table"])
    return folder if same and (folder / "meta.yaml").exists() else None


def predictor_checkpoint(predictor: Any) -> Path | None:
    """The shipped supernet when the predictor was fitted on it (its `supernet_sha256`): a search
    on the default predictor then records the checkpoint that `export` must cut the subnet from."""
    sha = predictor.meta.get("supernet_sha256")
    path = SHIPPED_SUPERNET
    if sha and path.is_file() and sha256_file(path) == sha:
        return path
    return None


@dataclass
class ExportSources:
    subnet: Path
    supernet: Path
    device: str | None  # the device the subnet was searched for (its latency table's), if any
    notes: list[str] = field(default_factory=list)


def export_sources(subnet: str | os.PathLike | None, supernet: str | os.PathLike | None,
                   finetuned: bool = True) -> ExportSources:
    """Which subnet file and which supernet checkpoint (or fine-tuned subnet checkpoint, unless
    `finetuned` is False) an export uses."""
    from .space.formats import read_structured

    notes: list[str] = []
    last = records.read_record(records.SEARCH)
    if subnet is None:
        subnet_path = records.last_search_path()
        notes.append(f"subnet {subnet_path}: the last search's")
    else:
        subnet_path = Path(subnet)
    data = read_structured(subnet_path)  # FormatError (no such file...) before anything is loaded
    meta = data.get("meta") if isinstance(data, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    searched_for = (meta.get("supernet") or {}).get("checkpoint") if isinstance(meta.get("supernet"), dict) else None
    is_last = last is not None and last.get("path") == str(subnet_path.resolve())
    tuned = records.finetuned_for(subnet_path) if finetuned and supernet is None else None
    if supernet is not None:
        supernet_path = Path(supernet)
    elif tuned is not None:
        supernet_path = Path(tuned["path"])
        notes.append(f"weights {supernet_path}: the fine-tuned checkpoint of this subnet (the last `ofa-deploy "
                     "finetune`; give --supernet to cut it from a supernet instead)")
    elif searched_for:
        supernet_path = Path(searched_for)
        notes.append(f"supernet {supernet_path}: the one the subnet was searched for")
    elif is_last and last.get("supernet"):
        supernet_path = Path(last["supernet"])
        notes.append(f"supernet {supernet_path}: the last search's")
    else:
        from .nn.shipped import shipped_supernet_path

        supernet_path = shipped_supernet_path()
    table = meta.get("latency_table") if isinstance(meta.get("latency_table"), dict) else None
    device = table.get("device") if table else (last.get("device") if is_last else None)
    return ExportSources(subnet_path, supernet_path, device, notes)


def benchmark_inputs(file: str | os.PathLike | None, device: str | None,
                     table: str | os.PathLike | None = None) -> tuple[Path, str, Path | None, list[str]]:
    """(file, device, table folder or None, notes) of a benchmark: the last export by default, on the
    device its subnet was searched for, predicted with the table that search used (when on that device)."""
    notes: list[str] = []
    last = records.read_record(records.EXPORT)
    if file is None:
        path = records.last_export_path()
        notes.append(f"file {path}: the last export")
    else:
        path = Path(file)
    if device is None:
        recorded = last.get("device") if last and last.get("path") == str(path.resolve()) else None
        device = recorded or DEFAULT_DEVICE
        if recorded:
            notes.append(f"device {device}: the one the subnet was searched for")
    if table is None:
        table = _searched_table(path, device)
        if table is not None:
            notes.append(f"latency table {table}: the one the search used")
    return path, device, Path(table) if table is not None else None, notes


def remote_options(device: str, given: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The ssh / adb options of a command on `device`: those `given`, completed by the ones the last
    `profile` of the same device was given (and a note naming them)."""
    last = records.read_record(records.PROFILE)
    kept = (last or {}).get("remote") if (last or {}).get("device") == device else None
    out = {k: v for k, v in given.items() if v is not None}
    taken = {k: v for k, v in (kept or {}).items() if k not in out and isinstance(v, str)}
    said = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in taken.items())
    notes = [f"{said}: the last `ofa-deploy profile` of {device}'s"] if taken else []
    return {**given, **taken}, notes


def _searched_table(path: Path, device: str) -> Path | None:
    """The table folder the file's subnet was searched with, from its export report and subnet file."""
    from .outputs import report_path
    from .space.formats import read_structured

    try:
        subnet = read_structured(read_structured(report_path(path))["subnet"]["path"])
        table = subnet["meta"]["latency_table"]
    except (OfaDeployError, KeyError, TypeError):
        return None
    folder = Path(table["path"]) if isinstance(table, dict) and table.get("path") else None
    if folder is None or table.get("device") != device or not (folder / "meta.yaml").exists():
        return None
    return folder


def subnet_for_show(path: str | os.PathLike, image_size: int | None = None) -> Any:
    """The `Subnet` that `subnet show` prints, with the name of its fine-tuning first in its metadata: a
    `finetune` checkpoint (.pt: torch imported then) carries it, a subnet file that the last `finetune`
    fine-tuned (unchanged since) takes it from that record."""
    from .space import Subnet, load_subnet
    from .space.checkpoint import CHECKPOINT_SUFFIXES

    p = Path(path)
    if p.suffix in CHECKPOINT_SUFFIXES:
        from .nn.finetuned import load_finetuned

        tuned = load_finetuned(p)
        meta = tuned.checkpoint_meta
        name = (meta.get("finetune") or {}).get("name")
        return Subnet(tuned.spec, tuned.arch, {**({"name": name} if name else {}), **meta}, "finetune checkpoint")
    sub = load_subnet(p, image_size=image_size)
    rec = records.finetuned_for(p)
    if rec is not None:
        sub.meta = {"name": rec.get("name"), "finetuned": {"checkpoint": rec.get("path"), "epochs": rec.get("epochs"),
                                                         "top1": rec.get("top1")}, **sub.meta}
    return sub


# ---- the next command of each step -----------------------------------------------------------------
def suggest_budget(table: Any) -> str | None:
    """A latency budget worth trying on `table`: its prediction for the middle subnet at the largest
    complete resolution (2 significant digits), e.g. `0.35ms`."""
    from .space import middle_arch
    from .units import format_ms

    rs = table.complete_resolutions()
    if not rs:
        return None
    ms = table.predict_arch(middle_arch(table.spec, max(rs)))
    return format_ms(float(f"{ms:.2g}"))


def next_after_profile(table: Any) -> str:
    budget = suggest_budget(table)
    if budget is None:
        return "rerun the same command to finish the table (no resolution is complete yet)"
    return f"ofa-deploy search --latency {budget}"


def next_after_search(precision: str = "fp32") -> str:
    """`precision`: of the table the search used (an int8 table's subnet ships int8)."""
    return "ofa-deploy export --format tflite" + (" --int8" if precision == "int8" else "")


def finetune_after_search() -> str:
    """The optional step between search and export (the official `..._finetune@25` subnets)."""
    return "ofa-deploy finetune"


def next_after_finetune() -> str:
    return "ofa-deploy export --format tflite"


def next_after_export() -> str:
    return "ofa-deploy benchmark"


def next_after_benchmark() -> str:
    return "ofa-deploy report"


__all__ = ["DEFAULT_DEVICE", "ExportSources", "benchmark_inputs", "export_sources", "finetune_after_search",
           "next_after_benchmark", "next_after_export", "next_after_finetune", "next_after_profile",
           "next_after_search", "predictor_checkpoint", "remote_options", "search_device", "subnet_for_show",
           "suggest_budget"]
