"""One `ofa-deploy search` run as a library call: budgets in, subnet files written and remembered.

Why here and not in the CLI: the rules of a run (which mode the budgets ask for, which device and
table a latency budget uses when none is named, where the files go and what they are called, what
the next step reads back) are behaviour that scripts and tests share with the command line.

Modes: one budget -> one search, one subnet file; several latency budgets -> a sweep (a folder of
subnet files and a plot); `pareto` -> a sweep over budgets spaced from the smallest achievable
value to the largest subnet's. Default outputs go under `paths.searches_dir()`, named
`<time>_<device>_<budget tag>.json` (a sweep: `<time>_<device>_sweep/subnet_<budget tag>.json`).
The last file written is recorded (`records.remember_search`) with its device and supernet, so
that `ofa-deploy export` needs no arguments.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import checks, paths, records
from ..errors import OptionError
from ..units import format_count, format_ms, parse_count, parse_latency, parse_list
from .evolution import EvolutionConfig, SearchResult, search
from .output import write_result
from .pareto import pareto_budgets, plot, sweep
from .problem import Budget, Problem, build_problem


@dataclass
class SearchRequest:
    """What the user asked for (parsed), as data. `device`/`table` None: see `flow.search_device`."""

    latencies: list[float] = field(default_factory=list)
    flops: float | None = None
    params: float | None = None
    pareto: bool = False
    points: int = 8
    device: str | None = None
    table: Path | None = None
    predictor: Path | None = None
    supernet: str | None = None
    seed: int = 0
    out: Path | None = None
    force: bool = False  # replace an --out file of another kind
    config: EvolutionConfig = field(default_factory=EvolutionConfig)
    verify: bool | None = None  # None: verify when the device is local and the supernet weights are known
    margin: float = 0.0  # tighten the predicted latency budget by this share (for those who cannot verify)
    verify_rounds: int = 3
    verify_top: int = 3  # subnets measured per verification round (the best few by predicted accuracy)
    remote: dict[str, Any] = field(default_factory=dict)  # ssh / adb connection options for --verify (host, serial...)
    precision: str | None = None  # the table's precision (fp32 | int8); None: the device descriptor's
    measure: Any = None  # tests: a function SearchResult -> measured ms instead of the device
    say: Any = None  # one line per verification round (stderr in the CLI)

    @classmethod
    def from_text(cls, latency: str | None = None, flops: str | None = None, params: str | None = None,
                  **kw: Any) -> SearchRequest:
        """Budgets as people write them: `22ms`, `15ms,20ms`, `300M`, `0.3G`, `5M`."""
        req = cls(latencies=parse_list(latency, parse_latency) if latency else [],
                  flops=parse_count(flops, "FLOPs") if flops else None,
                  params=parse_count(params, "parameter") if params else None, **kw)
        req.check()
        return req

    def check(self) -> None:
        if self.precision not in (None, "fp32", "int8"):
            raise OptionError(f"--precision must be fp32 or int8, got {self.precision!r}")
        if not self.latencies and self.flops is None and self.params is None and not self.pareto:
            raise OptionError("give at least one budget: --latency 22ms, --flops 300M or --params 5M (or --pareto)")
        if self.points < 1:
            raise OptionError(f"--points must be at least 1, got {self.points}")
        from .verify import MAX_TOP

        checks.count(self.verify_top, "--verify-top", MAX_TOP)

    def interrupted(self) -> str:
        """What an interruption (Ctrl-C) of `run_search` kept, and how to search again, as one line."""
        return ("interrupted: nothing was written (no subnet file, no search record; a search keeps nothing until it "
                "ends); rerun the same command to search again" + (" (--no-verify skips the device)"
                                                                   if self.verify else ""))

    @property
    def needs_latency(self) -> bool:
        """True when a latency table is required: a latency budget, or a latency Pareto sweep."""
        return bool(self.latencies) or (self.pareto and self.flops is None)


@dataclass
class SearchOutcome:
    results: list[SearchResult]
    files: list[Path]
    plot: Path | None
    problem: Problem
    device: str | None
    sources: dict[str, Any]
    notes: list[str]
    failure: str | None = None  # a verified search whose subnets all measured over the budget (exit 1)

    def to_dict(self) -> dict[str, Any]:
        rows = [{"budget": r.budget.to_dict(), "accuracy": r.accuracy, "latency_ms": r.latency_ms,
                 "flops": r.flops, "params": r.params, "resolution": r.arch.r, "arch": r.arch.to_dict(),
                 "seconds": r.seconds, "path": str(f)} for r, f in zip(self.results, self.files)]
        return {"results": rows, "path": str(self.files[-1]), "plot": str(self.plot) if self.plot else None,
                "resolutions": list(self.problem.resolutions), "device": self.device, **self.sources,
                **({"failure": self.failure} if self.failure else {})}


def budget_tag(budget: Budget) -> str:
    """File-name form of a budget: `lat0p35ms`, `flops300M_params5M`."""
    parts = []
    if budget.latency_ms is not None:
        parts.append("lat" + format_ms(budget.latency_ms))
    if budget.flops is not None:
        parts.append("flops" + format_count(budget.flops))
    if budget.params is not None:
        parts.append("params" + format_count(budget.params))
    return "_".join(parts).replace(".", "p") or "nobudget"


def _want_verify(req: SearchRequest, lat: float | None, dev: str | None, supernet_info: dict[str, Any],
                 notes: list[str]) -> bool:
    """--verify: asked for, or by default on a local device; needs a latency budget and weights."""
    if lat is None or dev is None or req.verify is False:
        if req.verify and lat is None:
            raise OptionError("--verify checks a latency budget: give --latency (FLOPs and params need no check)")
        return False
    if req.measure is None:
        from ..devices import load_device
        from ..errors import DeviceError

        try:
            desc = load_device(dev)
        except DeviceError:
            if req.verify:
                raise
            notes.append(f"not verified on the device: {dev} has no device descriptor, so "
                         "nothing can be measured on it")
            return False
        if desc.connection == "none":
            if req.verify:
                raise OptionError(f"--verify measures on the device, but {dev} is known by its latency table only "
                                  f"(connection: none in {desc.source}), so nothing can be measured on it: give it a "
                                  "connection there, or search with --no-verify")
            notes.append(f"not verified on the device: {dev} is known by its latency table only (connection: none "
                         f"in {desc.source}), so nothing can be measured on it")
            return False
        if req.verify is None and desc.connection != "local":
            return False
    if not supernet_info.get("checkpoint") and req.measure is None:
        if req.verify:
            raise OptionError("--verify measures the subnet, which needs the supernet's weights: give "
                              "--supernet CHECKPOINT (or --no-verify)")
        notes.append("not verified on the device: no supernet checkpoint is known (give --supernet to verify)")
        return False
    return True


def run_search(req: SearchRequest) -> SearchOutcome:
    """Resolve the inputs, search, write the subnet file(s) and record the last one."""
    from ..flow import predictor_checkpoint, search_device
    from .output import check_search_output
    from .sources import passed_over, resolve_predictor, resolve_supernet, resolve_table

    # Before any work: an --out that holds something else, or an unwritable folder, fails now.
    check_search_output(req.out, req.pareto or len(req.latencies) > 1, req.force)
    pred, pred_info = resolve_predictor(req.predictor)
    spec, label, supernet_info = resolve_supernet(req.supernet, pred)
    if req.supernet is None and (ckpt := predictor_checkpoint(pred)) is not None:
        supernet_info = {**supernet_info, "checkpoint": str(ckpt)}  # what `export` cuts the subnet from
    device, table, notes = search_device(req.device, req.table, spec, req.needs_latency)
    lut, table_info = resolve_table(device, table, spec, req.precision, table_given=req.table is not None)
    if req.table is None and (skipped := passed_over(table, table_info)) is not None:
        notes = [n for n in notes if str(table) not in n] + [skipped]
    dev = device or (lut.device if lut is not None else None)
    problem = build_problem(spec, pred, lut, dev, supernet_label=label)
    sources: dict[str, Any] = {"latency_table": table_info or None, "predictor": pred_info,
                               "supernet": supernet_info}
    base = Budget(None, req.flops, req.params)
    if req.verify and (req.pareto or len(req.latencies) > 1):
        notes.append("sweeps are not verified: verify a budget's subnet with `ofa-deploy search --latency X --verify`")
    if req.pareto:
        objective: str | None = "latency" if lut is not None else "flops"
        values = req.latencies or pareto_budgets(problem, objective, req.points)
        results = sweep(problem, base, objective, values, req.config, req.seed)
    elif len(req.latencies) > 1:
        objective = "latency"
        results = sweep(problem, base, "latency", req.latencies, req.config, req.seed)
    else:
        objective = None
        lat = req.latencies[0] if req.latencies else None
        budget = Budget(lat * (1 - req.margin) if lat is not None else None, req.flops, req.params)
        if req.margin and lat is not None:
            sources["margin"] = {"budget_ms": lat, "predicted_budget_ms": budget.latency_ms, "margin": req.margin}
        verify = _want_verify(req, lat, dev, supernet_info, notes)
        if verify:
            from .verify import device_measure, verified_search

            measure = req.measure or device_measure(problem, lut, table_info.get("path"),
                                                    supernet_info["checkpoint"], dev, req.say or (lambda _: None),
                                                    remote=req.remote)
            res, verified = verified_search(problem, budget, measure, req.config, req.seed, req.verify_rounds,
                                            req.say or (lambda _: None), req.verify_top)
            res = dataclasses.replace(res, budget=Budget(lat, req.flops, req.params))
            sources["verified"] = verified
            results = [res]
        else:
            results = [search(problem, budget, req.config, req.seed)]

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    tag = dev or "nodevice"
    files: list[Path] = []
    png = None
    if objective is None:
        path = req.out or paths.searches_dir() / f"{stamp}_{tag}_{budget_tag(results[0].budget)}.json"
        files.append(write_result(results[0], spec, path, sources))
    else:
        folder = Path(req.out or paths.searches_dir() / f"{stamp}_{tag}_sweep")
        for r in results:
            files.append(write_result(r, spec, folder / f"subnet_{budget_tag(r.budget)}.json", sources))
        png = plot(results, folder / "pareto.png", title=f"{tag}: best predicted accuracy per budget",
                   x="latency" if objective == "latency" else "flops")
    verified = sources.get("verified")
    if verified and not verified["met"]:  # kept for inspection, never handed on as the export default
        return SearchOutcome(results, files, png, problem, dev, sources, notes,
                             failure=over_budget_message(verified, dev, files[-1]))
    records.remember_search(files[-1], files, budget=results[-1].budget.to_dict(), device=dev,
                            supernet=supernet_info.get("checkpoint"), space=spec.to_dict())
    return SearchOutcome(results, files, png, problem, dev, sources, notes)


def over_budget_message(verified: dict[str, Any], device: str | None, path: Path) -> str:
    """The one line of a verified search that found nothing within the budget on the device."""
    import math

    ms = verified["achievable_ms"]
    digits = max(0, 2 - math.floor(math.log10(ms))) if ms > 0 else 3
    tightest = math.ceil(ms * 10 ** digits) / 10 ** digits  # 3 significant digits, rounded up
    return (f"no subnet measured within the {format_ms(verified['budget_ms'])} budget on {device}: the best measured "
            f"is {verified['best_measured']} at {verified['measured_ms']:.3f} ms; the tightest budget this device "
            f"meets is about {format_ms(tightest)} (search --latency {format_ms(tightest)}); not made the export "
            f"default ({path} keeps the rounds; `export --subnet` it only with --over-budget)")


__all__ = ["SearchOutcome", "SearchRequest", "budget_tag", "over_budget_message", "run_search"]
