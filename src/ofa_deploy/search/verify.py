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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..errors import OfaDeployError, OptionError
from .evolution import EvolutionConfig, SearchResult, search_top

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
    backend = make_backend(load_device(device), md.get("runtime") if md.get("runtime") != "official" else None,
                           md.get("threads"), **(remote or {}))
    p = md.get("protocol", {})
    proto = Protocol(sessions=int(p.get("sessions", 3)), max_runs=int(p.get("max_runs", 200)),
                     min_runs=min(20, int(p.get("max_runs", 200))))

    def many(results: list[SearchResult]) -> list[float]:
        ms = [float(v) for v in measure_subnets(net, lut.spec, problem.batch_of([r.arch for r in results]),
                                                backend, proto, stat=lut.stat)]
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
    does or `rounds` are spent. Without a subnet that meets it, the last round's best predicted
    one is delivered, and `met` says so."""
    goal = float(budget.latency_ms)
    target = goal
    log: list[dict[str, Any]] = []
    chosen: tuple[SearchResult, float] | None = None
    last: tuple[SearchResult, float] | None = None
    for i in range(1, rounds + 1):
        try:
            cands = search_top(problem, dataclasses.replace(budget, latency_ms=target), top, config, seed)
        except OfaDeployError as e:
            if i == 1:
                raise
            say(f"verify round {i}: no subnet predicted within {target:.3f} ms ({str(e).split(';')[0]}); "
                "keeping the last round's")
            break
        measured = measure_all(measure_fn, cands)
        ok = [m <= goal for m in measured]
        pick = next((j for j, good in enumerate(ok) if good), None)  # candidates are best first
        shown = 0 if pick is None else pick
        res, ms = cands[shown], measured[shown]
        log.append({"round": i, "predicted_budget_ms": target, "predicted_ms": res.latency_ms, "measured_ms": ms,
                    "met": pick is not None, "delivered": None if pick is None else res.arch.short(),
                    "candidates": [{"arch": r.arch.short(), "accuracy": r.accuracy, "predicted_ms": r.latency_ms,
                                    "measured_ms": m, "met": good} for r, m, good in zip(cands, measured, ok)]})
        fits = f"{sum(ok)} of {len(cands)} within" if len(cands) > 1 else ("within" if ok[0] else "over")
        say(f"verify round {i}: predicted budget {target:.3f} ms -> {len(cands)} subnet(s) predicted "
            f"{min(r.latency_ms for r in cands):.3f}..{max(r.latency_ms for r in cands):.3f} ms, measured "
            f"{min(measured):.3f}..{max(measured):.3f} ms ({fits} the {goal:.3f} ms budget)"
            + ("" if pick is None else f"; delivering #{pick + 1} (predicted accuracy {100 * res.accuracy:.2f}%, "
               f"measured {ms:.3f} ms)"))
        last = (cands[0], measured[0])
        if pick is not None:
            chosen = (res, ms)
            break
        target = target * goal / measured[0] * 0.98  # the best one's observed ratio, and a little more
    assert last is not None
    res, measured_ms = chosen or last
    res = dataclasses.replace(res, budget=budget)
    return res, {"budget_ms": goal, "measured_ms": measured_ms, "predicted_ms": res.latency_ms,
                 "met": measured_ms <= goal, "top": top, "rounds": log}


__all__ = ["DEFAULT_TOP", "MAX_TOP", "device_measure", "measure_all", "parse_margin", "verified_search"]
