"""ofa-deploy for people who script: the flow as Python calls, its data as pandas DataFrames.

    from ofa_deploy import api
    table = api.latency_table("cpu")                # one row per layer and resolution (ms statistics)
    result = api.search(latency="0.5ms", device="cpu")
    api.search_population(result.files[0])         # what the search predicted, with its Pareto front

Every function reads the same files the commands write (latency table folders, `validation.csv`,
accuracy dataset folders, subnet files, the records' `benchmarks.jsonl`), through the same library
code, so a DataFrame shows exactly what `ofa-deploy` shows. pandas, torch and the search are
imported inside the functions, never at `import ofa_deploy`: the command line does not pay for them.
Errors are the library's typed errors (`ofa_deploy.errors`), with a message saying what to do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import OfaDeployError


def _pd() -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise OfaDeployError("ofa_deploy.api returns pandas DataFrames: install pandas "
                             "(pip install 'ofa-deploy[pandas]')") from None
    return pd


def _table_folder(table: str | os.PathLike | None, device: str | None, supernet: str | os.PathLike | None,
                  precision: str | None = None) -> Any:
    from .latency.resolve import resolve_table
    from .space.checkpoint import checkpoint_space

    spec = checkpoint_space(Path(supernet)) if supernet is not None else None
    if spec is None and table is None:
        from .flow import SHIPPED_SUPERNET

        spec = checkpoint_space(SHIPPED_SUPERNET)
    return resolve_table(device, table, spec, precision)


# ---- latency tables -------------------------------------------------------------------------------
def latency_table(table: str | os.PathLike | None = None, *, device: str | None = None,
                  supernet: str | os.PathLike | None = None, precision: str | None = None) -> Any:
    """The rows of a latency table: `key`, `resolution`, `count`, `mean`, `median`, `std`, `p10`,
    `p90` (ms), `method`, `samples`. `table`: a folder; or `device`: its table for the space of
    `supernet` (default: the shipped demo supernet's) and `precision` (fp32 | int8; default fp32 first),
    as `--device` finds it. `df.attrs` holds the table's metadata (device, runtime, threads, precision,
    validation...)."""
    pd = _pd()
    if table is not None and device is None and not Path(table).exists():
        device, table = str(table), None  # `latency_table("cpu")`: a device name
    found = _table_folder(table, device, supernet, precision)
    lut = found.table
    df = pd.DataFrame([{"key": r.key, "resolution": r.resolution, "count": r.count, "mean": r.mean,
                        "median": r.median, "std": r.std, "p10": r.p10, "p90": r.p90, "method": r.method,
                        "samples": r.samples} for r in lut.rows])
    df.attrs.update({"path": str(found.info().get("path")), **{k: v for k, v in lut.metadata.items()
                                                                 if isinstance(v, (str, int, float, list, dict))}})
    return df


def validation(table: str | os.PathLike) -> Any:
    """A table's validation (`ofa-deploy latency validate`): one row per subnet timed end to end
    (`arch`, `resolution`, `predicted_raw_ms`, `predicted_calibrated_ms`, `measured_ms`, `split`)
    plus `error_pct` (predicted - measured, in % of measured). `df.attrs`: `metrics` (held out,
    as stored with the table), `ratio_band`, and `verdict` (the sentence the commands print)."""
    pd = _pd()
    from .latency.table import read_metadata
    from .verdicts import latency_verdict

    folder = Path(table)
    csv_path = folder / "validation.csv"
    if not csv_path.is_file():
        raise OfaDeployError(f"{folder} has no validation.csv: run `ofa-deploy latency validate -t {folder}` first")
    df = pd.read_csv(csv_path)
    cal = df["split"].eq("fit").any()
    pred = df["predicted_calibrated_ms"].where(cal & df["split"].ne("fit"), df["predicted_raw_ms"]) if cal \
        else df["predicted_raw_ms"]
    df["error_pct"] = 100 * (pred - df["measured_ms"]) / df["measured_ms"]
    val = read_metadata(folder).get("validation") or {}
    df.attrs.update({"metrics": val.get("heldout"), "ratio_band": val.get("ratio_band"),
                     "verdict": latency_verdict(val.get("heldout"), val.get("ratio_band")).line()})
    return df


# ---- accuracy ----------------------------------------------------------------------------------------
def accuracy_dataset(folder: str | os.PathLike) -> Any:
    """An accuracy dataset (`ofa-deploy predictor dataset`): one row per measured subnet, its genes
    (`ks`, `e`, `d` as tuples, or a kind's own), `r`, `accuracy` (a fraction), `seconds`, `label`."""
    pd = _pd()
    from .predictor.dataset import load_accuracy_dataset

    data = load_accuracy_dataset(folder)
    archs = data.archs.to_archs()
    rows = []
    for i, a, acc, s in zip(data.index, archs, data.accuracy, data.seconds):
        genes = {k: (tuple(v) if isinstance(v, list) else v) for k, v in a.to_dict().items()}
        rows.append({"index": int(i), **genes, "accuracy": float(acc), "seconds": float(s), "label": a.short()})
    df = pd.DataFrame(rows)
    df.attrs.update({"path": str(data.path), "space": data.meta.get("space")})
    return df


# ---- search ------------------------------------------------------------------------------------------
def search(latency: str | None = None, *, flops: str | None = None, params: str | None = None,
           device: str | None = None, table: str | os.PathLike | None = None,
           predictor: str | os.PathLike | None = None, supernet: str | None = None, seed: int = 0,
           out: str | os.PathLike | None = None, verify: bool | None = None, pareto: bool = False,
           points: int = 8, precision: str | None = None) -> Any:
    """`ofa-deploy search` as a call: budgets as people write them (`"22ms"`, `"300M"`); returns the
    `SearchOutcome` (`.results`, `.files`: the subnet files written; the flow's records updated)."""
    from .search import SearchRequest, run_search

    req = SearchRequest.from_text(latency, flops, params, device=device,
                                  table=Path(table) if table is not None else None,
                                  predictor=Path(predictor) if predictor is not None else None, supernet=supernet,
                                  seed=seed, out=Path(out) if out is not None else None, verify=verify,
                                  pareto=pareto, points=points, precision=precision)
    return run_search(req)


def search_population(subnet: str | os.PathLike) -> Any:
    """The subnets a search predicted (a seeded sample, stored in its subnet file): `accuracy`
    (predicted, a fraction), `latency_ms` and/or `flops`, and `pareto` (on the front of higher
    accuracy for lower latency, or FLOPs without a table). `df.attrs`: `total` predicted, `budget`."""
    pd = _pd()
    from .plots import pareto_front
    from .space.formats import read_structured

    doc = read_structured(Path(subnet))
    s = ((doc.get("meta") or {}).get("search") or {}) if isinstance(doc, dict) else {}
    pop = s.get("population")
    if not pop:
        raise OfaDeployError(f"{subnet} records no search population (written by an older ofa-deploy, or not by "
                             "a search); search again to get one")
    df = pd.DataFrame({k: v for k, v in pop.items() if isinstance(v, list)})
    x = "latency_ms" if "latency_ms" in df else "flops"
    df["pareto"] = False
    if x in df and len(df):
        df.loc[df.index[pareto_front(df[x].to_numpy(), df["accuracy"].to_numpy())], "pareto"] = True
    df.attrs.update({"total": pop.get("total"), "budget": s.get("budget")})
    return df


def pareto_front(subnet: str | os.PathLike) -> Any:
    """The Pareto front of a search's population, sorted by latency (or FLOPs)."""
    df = search_population(subnet)
    x = "latency_ms" if "latency_ms" in df else "flops"
    return df[df["pareto"]].sort_values(x).reset_index(drop=True)


def sweep(folder: str | os.PathLike) -> Any:
    """A budget sweep (`search --pareto` or `--latency 15ms,20ms`): one row per budget's subnet file:
    `file`, `budget_ms`, `accuracy`, `latency_ms`, `flops`, `params`, `label`."""
    pd = _pd()
    from .space.formats import load_subnet

    rows = []
    for f in sorted(Path(folder).glob("subnet_*.json")):
        sub = load_subnet(f)
        p = sub.meta.get("predicted") or {}
        b = (sub.meta.get("search") or {}).get("budget") or {}
        rows.append({"file": str(f), "budget_ms": b.get("latency_ms"), "budget_flops": b.get("flops"),
                     "accuracy": p.get("accuracy"), "latency_ms": p.get("latency_ms"), "flops": p.get("flops"),
                     "params": p.get("params"), "label": sub.arch.short()})
    if not rows:
        raise OfaDeployError(f"{folder} holds no subnet_*.json: give the folder a sweep wrote")
    return pd.DataFrame(rows).sort_values("budget_ms" if rows[0]["budget_ms"] is not None else "budget_flops",
                                          ignore_index=True)


# ---- exports and benchmarks ---------------------------------------------------------------------------
def export(format: str = "onnx", *, subnet: str | os.PathLike | None = None,
           supernet: str | os.PathLike | None = None, out: str | os.PathLike | None = None, int8: bool = False,
           verify_images: int = 1000, data: str | os.PathLike | None = None) -> dict[str, Any]:
    """`ofa-deploy export` as a call (default: the last search's subnet); returns the export report."""
    from .export.pipeline import ExportOptions, plan_export, run_export

    opts = ExportOptions(format=format, subnet=Path(subnet) if subnet else None, int8=int8,
                         checkpoint=Path(supernet) if supernet else None, out=Path(out) if out else None,
                         data=Path(data) if data else None, verify_images=verify_images)
    return run_export(plan_export(opts))


def benchmarks() -> Any:
    """Every benchmark recorded (`ofa-deploy benchmark`, oldest first): `time`, `file`, `device`,
    `median_ms`, `mean_ms`, `std_ms`, `p10_ms`, `p90_ms`, `runs`, `predicted_ms`, `budget_ms`,
    `measured_over_predicted`, `sha256`."""
    pd = _pd()
    from . import records

    rows = []
    for b in records.read_log(records.BENCHMARKS_LOG):
        m = b.get("measured_ms") or {}
        pred = b.get("predicted_ms")
        rows.append({"time": b.get("time"), "file": b.get("file"), "device": b.get("device"),
                     "median_ms": m.get("median"), "mean_ms": m.get("mean"), "std_ms": m.get("std"),
                     "p10_ms": m.get("p10"), "p90_ms": m.get("p90"), "runs": m.get("count"), "predicted_ms": pred,
                     "budget_ms": b.get("budget_ms"),
                     "measured_over_predicted": m["median"] / pred if pred and m.get("median") else None,
                     "sha256": b.get("sha256")})
    cols = ["time", "file", "device", "median_ms", "mean_ms", "std_ms", "p10_ms", "p90_ms", "runs", "predicted_ms",
            "budget_ms", "measured_over_predicted", "sha256"]
    df = pd.DataFrame(rows, columns=cols)
    df["time"] = pd.to_datetime(df["time"])
    return df


def report(out: str | os.PathLike | None = None, **kw: Any) -> Path:
    """`ofa-deploy report`: write the HTML page of the last flow; its path."""
    from .report import write_report

    return write_report(out, **kw)[0]


__all__ = ["accuracy_dataset", "benchmarks", "export", "latency_table", "pareto_front", "report", "search",
           "search_population", "sweep", "validation"]
