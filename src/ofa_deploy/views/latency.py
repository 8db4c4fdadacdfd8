"""What `profile`, `latency validate|predict` and `lut show|import|export` print."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from .console import console, human, next_step, print_json, rich_table
from .progress import progress_bar


def profile_header(run: Any, as_json: bool, out: Console = console) -> None:
    """The table folder, the space and the device a `devices.profiling.ProfileRun` measures (not in --json)."""
    if as_json:
        return
    info = run.backend.info()
    out.print(f"table   {run.folder}  [dim]({run.plan.done} rows already there)[/]")
    out.print(f"space   {run.spec.describe()}")
    out.print(f"device  {run.desc.name}: {info['runtime']} {info['runtime_version']}, "
              f"{info['threads']} thread(s), {info['host_cpu']}")
    if info.get("note"):
        out.print(f"[dim]{info['note']}[/]")


def profiled(run: Any, table: Any, info: dict, as_json: bool, out: Console = console) -> None:
    """`ProfileRun.finish()`'s table and summary: rows measured, methods, the in-context fits, and the next step."""
    from ..flow import next_after_profile

    if as_json:
        print_json(info)
        return
    out.print(f"[green]done[/]: {info['written']} rows measured in {info['seconds']} s; table has {len(table)} "
              f"rows, resolutions {', '.join(map(str, table.resolutions))}")
    out.print(f"rows by method: {', '.join(f'{k} {v}' for k, v in info['methods'].items())}"
              + (f" ({run.subnets} whole subnets per resolution)" if run.method != "isolated" else ""))
    for r, rec in (table.metadata.get("incontext") or {}).get("resolutions", {}).items():
        if "residual_mape" in rec:
            out.print(f"  r={r}: {rec['rows_fitted']} rows fitted to {rec['subnets']} subnets, residual MAPE "
                      f"{rec['residual_mape']:.1f} %, in context x{rec['scale']:.3f} of the isolated blocks")
    if info["incomplete"]:
        out.print(f"[yellow]incomplete resolutions[/]: {info['incomplete']}")
    if line := run.coverage_note(table):
        out.print(f"[dim]{line}[/]", highlight=False)
    next_step(next_after_profile(table), out)


@contextmanager
def validation_bars(run: Any, samples: int, as_json: bool) -> Iterator[tuple[Callable, Callable]]:
    """The runtime warning of a `devices.validating.ValidationRun`, then its two bars (subnets exported,
    sessions timed); yields their `(on_session, on_export)` callbacks. Both on stderr under --json."""
    out = human(as_json)
    if warning := run.runtime_warning():
        out.print(f"[yellow]warning[/]: {warning}")
    with progress_bar(out=out) as bar:
        exp = bar.add_task("exporting subnets", total=samples)
        task = bar.add_task("timing subnets", total=samples * run.proto.sessions)
        yield (lambda _: bar.advance(task)), (lambda _: bar.advance(exp))


def validated(result: dict, run: Any, samples: int, calibrate: bool, as_json: bool, out: Console = console) -> None:
    """`ValidationRun.run()`'s result: the metrics table, the verdict, the calibration and the files."""
    from ..verdicts import latency_verdict

    if as_json:
        print_json({k: v for k, v in result.items() if k not in ("archs",)})
        return
    folder = run.folder
    t = rich_table(f"{run.table.device}: {samples} random subnets, r {', '.join(map(str, result['resolutions']))}",
                   ("prediction", "subnets", "MAPE %", "RMSPE %", "±5 %", "±10 %", "p95 |err| %",
                    "Kendall tau", "measured/predicted"))
    rows = [("raw block sum, all", result["raw_all"])]
    if calibrate:
        rows += [("raw, held out", result["raw_heldout"]), ("calibrated, held out", result["calibrated_heldout"])]
    elif "calibrated_all" in result:
        rows.append(("stored calibration, all", result["calibrated_all"]))
    for name, m in rows:
        t.add_row(name, str(m["n"]), f"{m['mape']:.1f}", f"{m['rmspe']:.1f}", f"{m['within_5']:.0f}",
                  f"{m['within_10']:.0f}", f"{m['p95_ape']:.1f}", f"{m['kendall_tau']:.3f}",
                  f"{m['measured_over_predicted']:.3f}")
    out.print(t)
    record = result["validation"]
    out.print(latency_verdict(record["heldout"], record["ratio_band"]).line(), highlight=False)
    if calibrate:
        c = result["calibration"]
        out.print(f"calibration  ms = {c['a']:.4f} * sum + {c['b']:.4f}  (stored in {folder / 'meta.yaml'})")
    lo, hi = record["ratio_band"]
    out.print(f"validated    measured/predicted {lo:.3f}..{hi:.3f} (5th-95th percentile, held out; stored in "
              f"{folder / 'meta.yaml'})")
    out.print(f"files        {', '.join(result['files'])}")


def predicted(subnet: Path, table: Any, ms: float, layers: list, raw: bool, breakdown: bool, as_json: bool,
              out: Console = console) -> None:
    """`latency predict`: the predicted milliseconds of one subnet (and its per-layer breakdown)."""
    calibrated = not raw and table.calibration is not None
    if as_json:
        print_json({"device": table.device, "ms": ms, "calibrated": calibrated,
                    "layers": layers if breakdown else None})
        return
    if breakdown:
        t = rich_table(f"{subnet} on {table.device}", ("layer", "ms"))
        for k, v in layers:
            t.add_row(k, f"{v:.3f}")
        out.print(t)
    out.print(f"{ms:.2f} ms{' (calibrated)' if calibrated else ''} on {table.device}")


def table_shown(table: Any, resolution: int | None, as_json: bool, out: Console = console) -> None:
    """`lut show`: a table's metadata, resolutions, completeness, calibration and stored validation;
    its rows at `resolution` when given."""
    info = table.summary()
    meta = {k: v for k, v in table.metadata.items() if k not in ("spec", "backend_info", "device_descriptor")}
    if as_json:
        rows = [r.__dict__ for r in table.rows if resolution is None or r.resolution == resolution]
        print_json({**info, "metadata": meta, "rows": rows if resolution is not None else None})
        return
    out.print(f"device       {info['device']}")
    out.print(f"space        {info['space']}")
    out.print(f"rows         {info['rows']}, predictions use the {info['stat']}")
    out.print(f"made by      {', '.join(f'{k} {v}' for k, v in info['methods'].items())} (rows per method)")
    out.print(f"resolutions  {info['resolutions']}")
    if info["incomplete"]:
        out.print(f"[yellow]incomplete[/]   {info['incomplete']} (missing keys per resolution)")
    for k in ("backend", "runtime", "runtime_version", "threads", "precision", "host_cpu", "date_started",
              "date_updated", "source"):
        if meta.get(k) is not None:
            out.print(f"{k:<12} {meta[k]}")
    cal = table.calibration
    fit = "none" if cal is None else f"ms = {cal['a']:.4f} * sum + {cal['b']:.4f}"
    out.print(f"calibration  {fit}")
    stored_validation(table.metadata.get("validation"), out)
    if resolution is not None:
        t = rich_table(f"rows at r={resolution}", ("key", "count", "mean", "median", "p10", "p90", "method", "subnets"))
        for r in table.rows:
            if r.resolution == resolution:
                t.add_row(r.key, str(r.count), *(f"{getattr(r, s):.4f}" for s in ("mean", "median", "p10", "p90")),
                          r.method, str(r.samples))
        out.print(t)


def stored_validation(val: dict | None, out: Console = console) -> None:
    """`lut show`'s lines on the table's stored validation record."""
    from ..verdicts import latency_verdict

    if not val:
        out.print("validation   none (run `ofa-deploy latency validate`)")
        return
    h = val["heldout"]
    tau = "n/a" if h.get("kendall_tau") is None else f"{h['kendall_tau']:.3f}"
    out.print(f"validation   {val['date']}: {h['n']} held-out subnets, MAPE {h['mape']:.1f} %, RMSPE "
              f"{h['rmspe']:.1f} %, within ±5 % {h['within_5']:.0f} %, ±10 % {h['within_10']:.0f} %, "
              f"p95 {h['p95_ape']:.1f} %, tau {tau}")
    out.print(f"band         measured/predicted {val['ratio_band'][0]:.3f}..{val['ratio_band'][1]:.3f}")
    out.print(latency_verdict(h, val.get("ratio_band")).line(), highlight=False)


def imported(table: Any, folder: Path, written: Path | None, device: str, as_json: bool,
             out: Console = console) -> None:
    """`lut import`: the rows imported, and the descriptor written for a device that had none."""
    if as_json:
        print_json({**table.summary(), "folder": str(folder), "descriptor_written": str(written) if written else None})
        return
    out.print(f"imported {len(table)} rows at resolutions {list(table.resolutions)} into {folder}")
    if written:
        out.print(f"device {device} had no descriptor: wrote {written} (connection: none, known by this table "
                  "only; give it a connection there to measure on it)")


def exported(folder: Path, written: list[Path], stat: str, as_json: bool, out: Console = console) -> None:
    """`lut export`: the official YAML files written."""
    if as_json:
        print_json({"folder": str(folder), "files": [str(p) for p in written], "stat": stat})
        return
    out.print(f"wrote {len(written)} files: {', '.join(p.name for p in written)} in {folder}")
