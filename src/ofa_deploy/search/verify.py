"""`search --verify`: the promise is "this subnet runs within the budget on that device", so the
subnet the search picks is measured end to end, with the table's device, backend and protocol
(`latency.validation.measure_subnets`), before it is delivered.

When its measured latency is over the budget, the predicted budget is tightened by the observed
ratio measured / predicted and the search runs again, for at most `rounds` rounds; the subnet
file records every round. Each measurement is also a drift check (`latency.drift`). Only the best
subnet of each round is measured (one export and timing per round keeps --verify cheap); sweeps
are not verified (documented in the CLI help).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..errors import OfaDeployError, OptionError
from .evolution import EvolutionConfig, SearchResult, search

MeasureFn = Callable[[SearchResult], float]


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
                   say: Callable[[str], None] = lambda _: None) -> MeasureFn:
    """End-to-end timing of a searched subnet on the table's device (same backend as the table)."""
    from ..devices import load_device
    from ..devices.local import make_backend
    from ..latency import drift
    from ..latency.protocol import Protocol
    from ..latency.validation import measure_subnets
    from ..nn import load_supernet

    net = load_supernet(checkpoint).eval()
    md = lut.metadata
    backend = make_backend(load_device(device), md.get("runtime") if md.get("runtime") != "official" else None,
                           md.get("threads"))
    p = md.get("protocol", {})
    proto = Protocol(sessions=int(p.get("sessions", 3)), max_runs=int(p.get("max_runs", 200)),
                     min_runs=min(20, int(p.get("max_runs", 200))))

    def run(r: SearchResult) -> float:
        ms = float(measure_subnets(net, lut.spec, problem.batch_of([r.arch]), backend, proto,
                                   stat=lut.stat)[0])
        if table_folder and r.latency_ms:
            c = drift.check(table_folder, md, "search --verify", r.arch.short(), r.latency_ms, ms)
            if (line := c.message(r.arch.short())) is not None:
                say(line)
        return ms

    return run


def verified_search(problem: Any, budget: Any, measure_fn: MeasureFn, config: EvolutionConfig | None = None,
                    seed: int = 0, rounds: int = 3, say: Callable[[str], None] = lambda _: None
                    ) -> tuple[SearchResult, dict[str, Any]]:
    """Search, measure the best subnet, tighten and search again until it meets `budget.latency_ms`
    (the user's budget) or `rounds` are spent; the last round's subnet is delivered either way and
    `met` says whether it meets the budget."""
    goal = float(budget.latency_ms)
    target = goal
    log: list[dict[str, Any]] = []
    best: tuple[SearchResult, float] | None = None
    for i in range(1, rounds + 1):
        try:
            res = search(problem, dataclasses.replace(budget, latency_ms=target), config, seed)
        except OfaDeployError as e:
            if i == 1:
                raise
            say(f"verify round {i}: no subnet predicted within {target:.3f} ms ({str(e).split(';')[0]}); "
                "keeping the last round's")
            break
        measured = measure_fn(res)
        ok = measured <= goal
        log.append({"round": i, "predicted_budget_ms": target, "predicted_ms": res.latency_ms,
                    "measured_ms": measured, "met": ok})
        say(f"verify round {i}: predicted budget {target:.3f} ms -> subnet predicted {res.latency_ms:.3f} ms, "
            f"measured {measured:.3f} ms ({'within' if ok else 'over'} the {goal:.3f} ms budget)")
        if ok and (best is None or res.accuracy > best[0].accuracy):
            best = (res, measured)
        if ok:
            break
        target = target * goal / measured * 0.98  # the observed ratio, and a little more
    if best is not None:
        res, measured = best
    res = dataclasses.replace(res, budget=budget)
    return res, {"budget_ms": goal, "measured_ms": measured, "predicted_ms": res.latency_ms,
                 "met": measured <= goal, "rounds": log}


__all__ = ["device_measure", "parse_margin", "verified_search"]
