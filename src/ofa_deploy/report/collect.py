"""What the report shows, gathered from the flow's records and files into plain data.

The flow (`records`): the last search's subnet file names its latency table and predictor; the
table folder holds its validation (`meta.yaml` `validation`, `validation.csv`); `exports.jsonl`
names every file exported from that subnet (each with its `<file>.report.json`), and
`benchmarks.jsonl` every benchmark of those files (matched by sha256, so a file exported again is
not confused with its predecessor). Given paths replace the records: a subnet file, a table
folder, exported files. Missing pieces become notes, never errors: a report of half a flow is
still a report.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import records
from ..errors import OfaDeployError, ReportError


@dataclass
class FlowData:
    subnet_path: Path | None = None
    subnet: dict[str, Any] | None = None  # the subnet file's JSON
    table_path: Path | None = None
    table_meta: dict[str, Any] | None = None
    validation_rows: list[dict[str, float | str]] = field(default_factory=list)
    breakdown: list[tuple[str, float]] = field(default_factory=list)  # (layer key, ms) of the subnet
    blocks: list[dict[str, Any]] = field(default_factory=list)  # the subnet's active blocks
    n_stages: int = 0
    exports: list[dict[str, Any]] = field(default_factory=list)  # export reports
    benchmarks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _read_json(path: Path) -> dict[str, Any] | None:
    from ..space.formats import read_structured

    try:
        doc = read_structured(path)
    except OfaDeployError:
        return None
    return doc if isinstance(doc, dict) else None


def collect(subnet: str | os.PathLike | None = None, table: str | os.PathLike | None = None,
            files: list[str | os.PathLike] | None = None) -> FlowData:
    """The data of one flow: the given subnet file / table folder / exported files, else the records'."""
    data = FlowData()
    files = [Path(f) for f in files or []]
    for f in files:
        if not f.is_file():
            raise ReportError(f"{f}: no such file; give exported .onnx/.tflite files (or none, for the last flow)")
    if subnet is not None:
        data.subnet_path = Path(subnet)
        if not data.subnet_path.is_file():
            raise ReportError(f"{subnet}: no such subnet file; give one written by `ofa-deploy search`")
    elif files:
        rep = _export_report(files[0])
        if rep and (rep.get("subnet") or {}).get("path"):
            data.subnet_path = Path(rep["subnet"]["path"])
    else:
        rec = records.read_record(records.SEARCH)
        if rec is None or not rec.get("path"):
            raise ReportError(f"nothing to report: no search has been recorded (no {records.record_path(records.SEARCH)}); "
                              "run the flow (`ofa-deploy search --latency 25ms`, `ofa-deploy export`, "
                              "`ofa-deploy benchmark`) or give --subnet FILE")
        data.subnet_path = Path(rec["path"])
    if data.subnet_path is not None:
        data.subnet = _read_json(data.subnet_path)
        if data.subnet is None:
            data.notes.append(f"subnet file {data.subnet_path} is missing or unreadable: no search section")
    _table(data, table)
    _subnet_shape(data)
    _exports(data, files)
    _benchmarks(data)
    return data


def _table(data: FlowData, table: str | os.PathLike | None) -> None:
    from ..latency.table import read_metadata

    meta = (data.subnet or {}).get("meta") or {}
    lt = meta.get("latency_table") if isinstance(meta.get("latency_table"), dict) else None
    if table is None and lt and lt.get("path"):
        table = lt["path"]
    if table is None:
        data.notes.append("no latency table: the search used none (FLOPs or params budgets only)")
        return
    folder = Path(table)
    try:
        data.table_meta = read_metadata(folder)
    except OfaDeployError as e:
        data.notes.append(f"latency table {folder}: {e}")
        return
    data.table_path = folder
    csv_path = folder / "validation.csv"
    if csv_path.is_file():
        with csv_path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    data.validation_rows.append({
                        "arch": row["arch"], "resolution": int(row["resolution"]),
                        "predicted_raw_ms": float(row["predicted_raw_ms"]),
                        "predicted_calibrated_ms": float(row["predicted_calibrated_ms"]),
                        "measured_ms": float(row["measured_ms"]), "split": row["split"]})
                except (KeyError, ValueError):
                    continue


def _subnet_shape(data: FlowData) -> None:
    """The subnet's blocks (for the drawing) and its per-layer latency (table rows)."""
    if data.subnet is None:
        return
    from ..space.formats import load_subnet

    try:
        sub = load_subnet(data.subnet_path)
    except OfaDeployError as e:
        data.notes.append(f"subnet {data.subnet_path}: {e}")
        return
    blocks = getattr(sub.arch, "blocks", None)
    if blocks is not None:
        try:
            data.blocks = list(sub.arch.blocks(sub.spec))
            data.n_stages = len(sub.arch.d)
        except (OfaDeployError, AttributeError, TypeError, IndexError):
            data.blocks = []
    if data.table_path is not None:
        from ..latency.table import LatencyTable

        try:
            data.breakdown = LatencyTable.load(data.table_path).arch_breakdown(sub.arch)
        except (OfaDeployError, AttributeError, KeyError) as e:
            data.notes.append(f"no per-layer latency: {e}")


def _export_report(path: Path) -> dict[str, Any] | None:
    from ..export.report import load_report

    try:
        return load_report(path, check_file=path.is_file())
    except OfaDeployError:
        return None


def _exports(data: FlowData, files: list[Path]) -> None:
    if not files:
        want = str(data.subnet_path.resolve()) if data.subnet_path else None
        latest: dict[str, Path] = {}
        for doc in records.read_log(records.EXPORTS_LOG):
            if doc.get("path") and doc.get("subnet") == want:
                latest[doc["path"]] = Path(doc["path"])
        files = [p for p in latest.values() if p.is_file()]
    for f in files:
        rep = _export_report(f)
        if rep is None:
            data.notes.append(f"{f}: no export report beside it (or it describes another file): not shown")
            continue
        data.exports.append(rep)
    if not data.exports:
        data.notes.append("no export of this subnet recorded: run `ofa-deploy export --format tflite`")


def _benchmarks(data: FlowData) -> None:
    shas = {e.get("sha256") for e in data.exports if e.get("sha256")}
    latest: dict[str, dict[str, Any]] = {}
    for doc in records.read_log(records.BENCHMARKS_LOG):
        if doc.get("sha256") in shas:
            latest[doc["sha256"]] = doc  # the last benchmark of each file
    data.benchmarks = list(latest.values())
    if data.exports and not data.benchmarks:
        data.notes.append("no benchmark of these files recorded: run `ofa-deploy benchmark`")


__all__ = ["FlowData", "collect"]
