"""What `ofa-deploy export` and `ofa-deploy benchmark` print: the export report (the file, its
verification checks against their tolerances, warnings) and the timing of an exported file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from .console import console, err_console, next_step, print_json, rich_table


def exported(report: dict[str, Any], path: Path, as_json: bool, failed: bool, out: Console = console) -> None:
    """The saved report (`export.report.load_report`), pass or fail: JSON, else the table and, when it
    passed, the next step (a failed verification: the command says why after this)."""
    from ..flow import next_after_export

    if as_json:
        print_json(report)
        return
    render_report(report, path, out)
    if not failed:
        next_step(next_after_export(), out)


def render_report(r: dict[str, Any], path: Path, out: Console = console) -> None:
    """The report's table (rows of `export.summary`, each check with its tolerance and verdict), its
    warnings, the verdict and the targets missed that are not failures."""
    from ..export.summary import METRIC_LABELS, format_value, report_rows

    v = r["verification"]
    checks = {c["metric"]: c for c in v["checks"]}
    fmt = {"onnx": "ONNX", "tflite": "TFLite"}[r["file_format"]]
    t = rich_table(f"{fmt} {r['precision']}: {r['file']}", ("", "value", "tolerance", "check"),
                   right=("tolerance",))
    for name, text in report_rows(r):
        t.add_row(name, text, "", "")
    for key, label in METRIC_LABELS.items():
        if key not in v["metrics"]:
            continue
        c = checks.get(key)
        tol = f"{c['bound']} {format_value(c['limit'])}" if c else ""
        t.add_row(label, format_value(v["metrics"][key]), tol, _verdict(c))
    sec = r["seconds"]
    t.add_row("time", f"export {sec['export']:.1f} s, verify {sec['verify']:.1f} s", "", "")
    out.print(t)
    for w in r.get("warnings", []):
        out.print(f"[bold yellow]warning:[/] {w}")
    state = "[green]verified[/]" if r["passed"] else "[red]verification failed[/]"
    out.print(f"{state}; report {path}")
    for c in checks.values():
        if c["passed"] is False and not c.get("fatal", True):
            out.print(f"[yellow]target missed (not a verification failure):[/] {c['label']} "
                      f"{format_value(c['value'])} (target {c['bound']} {format_value(c['limit'])})")


def _verdict(c: dict[str, Any] | None) -> str:
    if c is None:
        return ""
    if c["passed"] is None:
        return "[yellow]skipped[/]"
    if c["passed"]:
        return "[green]pass[/]"
    return "[red]FAIL[/]" if c.get("fatal", True) else "[yellow]target missed[/]"


def benchmarked(result: dict[str, Any], file: Path, as_json: bool, out: Console = console) -> None:
    """`devices.benchmark.benchmark`'s result: the drift message (stderr), then JSON or the table of
    measured / predicted / budget latency, the ratios, the notes and the next step."""
    from ..flow import next_after_benchmark

    if (result.get("drift") or {}).get("message"):
        err_console.print(f"[yellow]{result['drift']['message']}[/]")
    if as_json:
        print_json(result)
        return
    m, b = result["measured_ms"], result["backend"]
    t = rich_table(f"{file.name} on {result['device']} ({b['runtime']} {b['runtime_version']}, "
                   f"{b['threads']} thread(s))", ("latency", "median ms", "p10 ms", "p90 ms", "runs"))
    t.add_row("measured", f"{m['median']:.3f}", *(f"{m[q]:.3f}" if m.get(q) is not None else "-"
                                                  for q in ("p10", "p90")), str(m["count"]))
    pred = result["predicted_ms"]
    if pred is not None:
        p = result["prediction"]
        t.add_row(f"predicted ({p.get('runtime')} table, {p.get('stat')})", f"{pred:.3f}", "", "", "")
    budget = result.get("budget_ms")
    if budget is not None:
        t.add_row("budget (search)", f"{budget:.3f}", "", "", "")
    out.print(t)
    if pred is not None:
        out.print(f"measured / predicted  {m['median'] / pred:.3f}")
    else:
        out.print(f"[yellow]{result['prediction']['note']}[/]")
    if budget is not None:
        verdict = "[green]within[/]" if m["median"] <= budget else "[yellow]over[/]"
        out.print(f"measured / budget     {m['median'] / budget:.3f} ({verdict} the search's budget)")
    for line in result["notes"]:
        out.print(f"[dim]note: {line}[/]")
    next_step(next_after_benchmark(), out)
