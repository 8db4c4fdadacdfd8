"""`search --verify`: the promise is "this subnet runs within the budget on that device", so the
subnets the search picks are measured end to end, with the table's device, backend and protocol
(`latency.validation.measure_subnets`), before one is delivered.

Each round takes the `top` best distinct subnets by predicted accuracy (all within the predicted
budget; `--verify-top`, 3 by default), times them together (interleaved, one export each) and
delivers the most accurate whose *measured* latency meets the budget: a subnet predicted just
under the budget often measures just over it, while the runner-up, nearly as accurate, fits.
When none does, the predicted budget is tightened by the best one's observed ratio measured /
predicted and the search runs again, for at most `rounds` rounds; the subnet file records every
round and every candidate. Each measurement is also a drift check (`latency.drift`). Sweeps are
not verified (documented in the CLI help).

Before giving up, the last round also measures the cheapest subnets the table predicts (the one
with the smallest predicted latency, the space's smallest, and the most accurate just above the
smallest prediction), and so does a round whose tightened budget is below every prediction: a
table that under-predicts this device may still leave one of them within the budget. When none is, the result is not met, and carries the best (fastest) measured subnet
and the tightest budget the device was measured to meet (`achievable_ms`); `run_search` then
does not make it the export default and the command exits 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..errors import OfaDeployError, OptionError
from .evolution import EvolutionConfig, SearchResult, arch_result, search_top

# ms of one searched subnet; a function may also have `.many(results) -> list of ms`, which times
# several subnets together (interleaved sessions, so that background load hits them alike).
MeasureFn = Callable[[SearchResult], float]
DEFAULT_TOP = 3
MAX_TOP = 16


def parse_margin(text: str | None) -> float:
    """`5%` or `0.05` -> 0.05; a margin tightens the predicted budget by that share."""
    if text is None:
        return 0.0
    t = text.strip()
    try:
        v = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise OptionError(f"--margin must be a share like 5% or 0.05, got {text!r}") from None
    if not 0 <= v < 0.9:
        raise OptionError(f"--margin must be between 0% and 90%, got {text!r}")
    return v


def device_measure(problem: Any, lut: Any, table_folder: str | None, checkpoint: str, device: str,
                   say: Callable[[str], None] = lambda _: None, remote: dict[str, Any] | None = None) -> MeasureFn:
    """End-to-end timing of searched subnets on the table's device (same backend as the table):
    local sessions, or one bundle per round over SSH / adb (`remote`: `make_backend`'s host,
    serial... options)."""
    from ..devices import load_device
    from ..devices.local import make_backend
    from ..latency import drift
    from ..latency.protocol import Protocol
    from ..latency.validation import measure_subnets
    from ..nn import load_supernet

    net = load_supernet(checkpoint).eval()
    md = lut.metadata
    desc = load_device(device)
    int8 = None
    if lut.precision != desc.precision:  # an int8 table: its subnets are timed int8, as the table's were
        desc = dataclasses.replace(desc, precision=lut.precision)
    if lut.precision == "int8":
        from ..devices.int8_inputs import int8_calibration

        cal = md.get("int8") or {}
        int8 = int8_calibration(lut.spec, net, n_images=int(cal.get("images") or 32))
    backend = make_backend(desc, md.get("runtime") if md.get("runtime") != "official" else None,
                           md.get("threads"), **(remote or {}))
    p = md.get("protocol", {})
    proto = Protocol.for_runs(int(p.get("sessions", 3)), int(p.get("max_runs", 200)))

    def many(results: list[SearchResult]) -> list[float]:
        ms = [float(v) for v in measure_subnets(net, lut.spec, problem.batch_of([r.arch for r in results]),
                                                backend, proto, stat=lut.stat, int8=int8)]
        for r, m in zip(results, ms):
            if table_folder and r.latency_ms:
                c = drift.check(table_folder, md, "search --verify", r.arch.short(), r.latency_ms, m)
                if (line := c.message(r.arch.short())) is not None:
                    say(line)
        return ms

    def run(r: SearchResult) -> float:
        return many([r])[0]

    run.many = many  # type: ignore[attr-defined]
    return run


def measure_all(measure_fn: MeasureFn, results: list[SearchResult]) -> list[float]:
    """Measured ms of every result, together when `measure_fn` can (`.many`)."""
    many = getattr(measure_fn, "many", None)
    return list(many(results)) if many is not None else [float(measure_fn(r)) for r in results]


def verified_search(problem: Any, budget: Any, measure_fn: MeasureFn, config: EvolutionConfig | None = None,
                    seed: int = 0, rounds: int = 3, say: Callable[[str], None] = lambda _: None,
                    top: int = DEFAULT_TOP) -> tuple[SearchResult, dict[str, Any]]:
    """Search, measure the `top` best subnets, deliver the most accurate that meets
    `budget.latency_ms` (the user's budget); when none does, tighten and search again until one
    does or `rounds` are spent, the last with the cheapest predicted subnets (`cheapest`). Without
    a subnet that meets it, the fastest one measured is delivered, `met` is False and
    `achievable_ms` is its measured latency (the tightest budget the device met)."""
    goal = float(budget.latency_ms)
    target = goal
    log: list[dict[str, Any]] = []
    chosen: tuple[SearchResult, float] | None = None
    seen: list[tuple[SearchResult, float]] = []  # every candidate measured, every round
    for i in range(1, rounds + 1):
        try:
            cands = search_top(problem, dataclasses.replace(budget, latency_ms=target), top, config, seed)
        except OfaDeployError as e:
            if i == 1:
                raise
            why = f"no subnet predicted within {target:.3f} ms ({str(e).split(';')[0]}); "
            chosen = _cheapest_round(problem, budget, top, config, seed, measure_fn, goal, i, log, seen, say, why)
            break
        if i == rounds:  # the last round: the cheapest predicted subnets are measured with the search's
            tried = {r.arch for r, _ in seen} | {r.arch for r in cands}
            extra = [r for r in cheapest(problem, budget, top, config, seed) if r.arch not in tried]
            cands = sorted(cands + extra, key=lambda r: -r.accuracy)
            chosen = _measure_round(measure_fn, cands, goal, i, target, log, seen, say, with_cheapest=bool(extra))
            break
        chosen = _measure_round(measure_fn, cands, goal, i, target, log, seen, say)
        if chosen is not None:
            break
        target = target * goal / seen[-len(cands)][1] * 0.98  # the best one's observed ratio, and a little more
    assert seen
    res, measured_ms = chosen or min(seen, key=lambda t: t[1])
    res = dataclasses.replace(res, budget=budget)
    out = {"budget_ms": goal, "measured_ms": measured_ms, "predicted_ms": res.latency_ms,
           "met": measured_ms <= goal, "top": top, "rounds": log}
    if not out["met"]:
        out["achievable_ms"] = measured_ms
        out["best_measured"] = res.arch.short()
    return res, out


def cheapest(problem: Any, budget: Any, top: int, config: EvolutionConfig | None = None,
             seed: int = 0) -> list[SearchResult]:
    """The cheapest subnets the table predicts, most accurate first: the most accurate ones within
    2 % of the smallest predicted latency, the arch of the smallest predicted latency itself, and
    the space's smallest arch at its smallest resolution."""
    low, fastest = problem.minimum("latency")
    out: list[SearchResult] = []
    try:
        out = search_top(problem, dataclasses.replace(budget, latency_ms=low * 1.02), max(1, top - 1), config, seed)
    except OfaDeployError:
        pass
    for arch in (fastest, problem.smallest_arch()):
        if all(r.arch != arch for r in out):
            r = arch_result(problem, arch, budget, config, seed)
            if (budget.flops is None or r.flops <= budget.flops) and (budget.params is None or r.params <= budget.params):
                out.append(r)  # within the FLOPs and parameter budgets too
    return sorted(out, key=lambda r: -r.accuracy)


def _cheapest_round(problem: Any, budget: Any, top: int, config: EvolutionConfig | None, seed: int,
                    measure_fn: MeasureFn, goal: float, i: int, log: list[dict[str, Any]],
                    seen: list[tuple[SearchResult, float]], say: Callable[[str], None],
                    why: str) -> tuple[SearchResult, float] | None:
    """Round `i` when the tightened budget is below every prediction: the cheapest predicted
    subnets not measured yet (none left: nothing to do)."""
    tried = {r.arch for r, _ in seen}
    cands = [r for r in cheapest(problem, budget, top, config, seed) if r.arch not in tried]
    if not cands:
        say(f"verify round {i}: {why}the cheapest predicted subnets were all measured already")
        return None
    return _measure_round(measure_fn, cands, goal, i, None, log, seen, say, why)


def _measure_round(measure_fn: MeasureFn, cands: list[SearchResult], goal: float, i: int, target: float | None,
                   log: list[dict[str, Any]], seen: list[tuple[SearchResult, float]],
                   say: Callable[[str], None], why: str = "",
                   with_cheapest: bool = False) -> tuple[SearchResult, float] | None:
    """Measure one round's candidates (best first), log it, and return the first within `goal`.
    `target` None: a round of the cheapest predicted subnets only (`why` says why)."""
    measured = measure_all(measure_fn, cands)
    seen.extend(zip(cands, measured))
    ok = [m <= goal for m in measured]
    pick = next((j for j, good in enumerate(ok) if good), None)  # candidates are best first
    shown = 0 if pick is None else pick
    res, ms = cands[shown], measured[shown]
    log.append({"round": i, "predicted_budget_ms": target, "predicted_ms": res.latency_ms, "measured_ms": ms,
                "met": pick is not None, "delivered": None if pick is None else res.arch.short(),
                **({"cheapest": True} if target is None or with_cheapest else {}),
                "candidates": [{"arch": r.arch.short(), "accuracy": r.accuracy, "predicted_ms": r.latency_ms,
                                "measured_ms": m, "met": good} for r, m, good in zip(cands, measured, ok)]})
    fits = f"{sum(ok)} of {len(cands)} within" if len(cands) > 1 else ("within" if ok[0] else "over")
    what = (f"predicted budget {target:.3f} ms ->" if target is not None
            else f"{why}the cheapest predicted subnets:")
    say(f"verify round {i}: {what} {len(cands)} subnet(s) predicted "
        f"{min(r.latency_ms for r in cands):.3f}..{max(r.latency_ms for r in cands):.3f} ms, measured "
        f"{min(measured):.3f}..{max(measured):.3f} ms ({fits} the {goal:.3f} ms budget)"
        + ("" if pick is None else f"; delivering #{pick + 1} (predicted accuracy {100 * res.accuracy:.2f}%, "
           f"measured {ms:.3f} ms)"))
    return None if pick is None else (res, ms)


__all__ = ["DEFAULT_TOP", "MAX_TOP", "cheapest", "device_measure", "measure_all", "parse_margin", "verified_search"]
