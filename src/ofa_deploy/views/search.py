"""What `ofa-deploy search` prints: its notes, then the JSON document or the results table, the
files written and the next steps."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from .console import console, err_console, next_step, notes, print_json, rich_table


def searched(outcome: Any, latency: str | None, said: list[str], seed: int, as_json: bool,
             out: Console = console) -> None:
    """`search.run_search`'s outcome: the notes on the budgets given (`latency`: the text of --latency),
    the search's own findings (`said`: verify rounds, drift), the budgets' notes; then the JSON
    document, or the table unless the search failed (the command then says why)."""
    from ..search.notes import budget_notes, coverage_note
    from ..units import bare_latency_notes

    notes([*bare_latency_notes(latency), *outcome.notes])
    for line in said:
        err_console.print(line, highlight=False, soft_wrap=True)
    notes([*budget_notes(outcome.problem, outcome.results), coverage_note(outcome.problem)])
    if as_json:
        print_json(outcome.to_dict())
    elif not outcome.failure:
        results(outcome, seed, out)


def results(outcome: Any, seed: int, out: Console = console) -> None:
    """The table of the subnets found (one row per budget), the table and files used, the next steps."""
    from ..flow import finetune_after_search, next_after_search
    from ..search import format_count, format_ms

    tag = outcome.device or "nodevice"
    t = rich_table(f"search on {tag}  [dim](resolutions {', '.join(map(str, outcome.problem.resolutions))}; "
                   f"seed {seed})[/]", ("budget", "pred. top-1", "latency", "FLOPs", "params", "arch", "time"),
                   right=("pred. top-1", "latency", "FLOPs", "params", "time"))
    for r in outcome.results:
        t.add_row(r.budget.describe(), f"{100 * r.accuracy:.2f}%",
                  format_ms(round(r.latency_ms, 2)) if r.latency_ms is not None else "-",
                  format_count(round(r.flops, -5)), format_count(round(r.params, -4)), r.arch.short(),
                  f"{r.seconds:.2f}s")
    out.print(t)
    if (used := outcome.sources.get("latency_table")):
        out.print(f"table       {used.get('precision', 'fp32')} latency table {used.get('path')}", highlight=False)
    v = outcome.sources.get("verified")
    if v:
        verdict = "[green]within[/]" if v["met"] else "[red]over[/]"
        out.print(f"verified    measured {v['measured_ms']:.3f} ms vs budget {v['budget_ms']:.3f} ms: {verdict} "
                  f"({len(v['rounds'])} round(s))")
    if outcome.plot is not None:
        out.print(f"plot        {outcome.plot}")
    for f in outcome.files:
        out.print(f"wrote       {f}")
    if len(outcome.files) > 1:
        out.print(f"[dim]remembered {outcome.files[-1]} (the subnet of the last budget, "
                  f"{outcome.results[-1].budget.describe()}) as the default input of `ofa-deploy export`; "
                  "give --subnet FILE to export another budget's[/]", highlight=False)
    else:
        out.print(f"[dim]remembered {outcome.files[-1]} as the default input of `ofa-deploy export`[/]")
    next_step(next_after_search((outcome.sources.get("latency_table") or {}).get("precision", "fp32")), out)
    out.print(f"[dim]or fine-tune it first, as the official `..._finetune@25` subnets were: "
              f"{finetune_after_search()}[/]", highlight=False)
