"""The shared measurement protocol (stdlib only): statistics, stopping rule, interleaving, guard."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from ofa_deploy.latency import protocol as P
from ofa_deploy.latency.validation import error_metrics, fit_linear, kendall_tau


class FakeClock:
    """A clock whose every run lasts the next value of `durations` (ms)."""

    def __init__(self, durations):
        self.durations = iter(durations)
        self.t = 0.0
        self.pending = False

    def __call__(self) -> float:
        if self.pending:
            self.t += next(self.durations) / 1e3
        self.pending = not self.pending
        return self.t


def test_protocol_module_is_stdlib_only():
    tree = ast.parse(Path(P.__file__).read_text())
    roots = {n.names[0].name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)}
    roots |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    assert roots <= {"__future__", "math", "random", "statistics", "time", "collections", "dataclasses", "typing"}


def test_summarize_matches_numpy():
    x = np.random.default_rng(0).lognormal(0, 0.3, 101)
    s = P.summarize(x.tolist())
    assert s["count"] == 101
    assert s["median"] == pytest.approx(np.median(x))
    assert s["p10"] == pytest.approx(np.quantile(x, 0.1)) and s["p90"] == pytest.approx(np.quantile(x, 0.9))
    assert s["mean"] == pytest.approx(x.mean()) and s["std"] == pytest.approx(x.std())


def test_session_stops_when_median_is_stable():
    proto = P.Protocol(warmup=2, min_runs=20, max_runs=200, check_every=10, rel_ci=0.02)
    calls = []
    samples = P.time_session(lambda: calls.append(1), proto, FakeClock([1.0] * 1000))
    assert len(samples) == 20 and len(calls) == 22  # constant timings: stable at min_runs, after warm-up
    assert samples == pytest.approx([1.0] * 20)


def test_session_runs_to_the_cap_when_noisy():
    rng = np.random.default_rng(0)
    proto = P.Protocol(warmup=0, min_runs=20, max_runs=55, check_every=10, rel_ci=0.001)
    samples = P.time_session(lambda: None, proto, FakeClock(rng.uniform(1, 3, 1000)))
    assert len(samples) == 55


def test_median_ci_shrinks_with_samples():
    rng = np.random.default_rng(1)
    x = rng.normal(10, 1, 400).tolist()
    assert P.median_rel_ci(x[:30]) > P.median_rel_ci(x) > 0
    assert P.median_rel_ci([1.0, 2.0]) == float("inf")


def test_measure_interleaves_fresh_sessions_and_pools():
    proto = P.Protocol(warmup=0, min_runs=5, max_runs=5, check_every=5, sessions=3, chunk=4, seed=3)
    opened, done, guarded = [], [], []

    class G(P.Guard):
        def before(self, name):
            guarded.append(name)

    def open_session(name):
        opened.append(name)
        return lambda: None

    names = [f"e{i}" for i in range(6)]
    res = P.measure(names, open_session, proto, G(), on_entry=lambda n, s: done.append((n, s["count"])))
    assert sorted(opened) == sorted(names * 3) and guarded == opened       # fresh session each time, guarded
    assert [n for n, _ in done] == names and all(c == 15 for _, c in done)  # 3 sessions x 5 runs pooled
    first_chunk = opened[:12]
    assert set(first_chunk) == set(names[:4])                                # chunks of 4 interleaved
    rounds = [first_chunk[i:i + 4] for i in range(0, 12, 4)]
    assert all(sorted(r) == names[:4] for r in rounds) and len({tuple(r) for r in rounds}) > 1  # shuffled
    assert set(res) == set(names)


def test_protocol_rejects_nonsense():
    with pytest.raises(ValueError):
        P.Protocol(min_runs=10, max_runs=5)
    assert P.Protocol.from_dict({**P.Protocol().to_dict(), "unknown": 1}) == P.Protocol()


# ---- validation metrics ------------------------------------------------------------------------
def test_kendall_tau_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=40), rng.normal(size=40)
    b[:5] = a[:5]
    assert kendall_tau(a, b) == pytest.approx(scipy_stats.kendalltau(a, b)[0])
    assert kendall_tau(a, a) == pytest.approx(1.0)


def test_fit_linear_and_metrics():
    raw = np.array([1.0, 2.0, 3.0, 4.0])
    cal = fit_linear(raw, 1.2 * raw + 0.5)
    assert cal["a"] == pytest.approx(1.2) and cal["b"] == pytest.approx(0.5)
    m = error_metrics([1.0, 2.1, 2.0], [1.0, 2.0, 4.0])
    assert m["mape"] == pytest.approx((0 + 5 + 50) / 3)
    assert m["within_10"] == pytest.approx(200 / 3)


def test_session_level_backends_follow_the_same_loop():
    """`measure_sessions` (adb's benchmark_model reports whole sessions) visits sessions in exactly
    the order `measure` opens them, guarded alike, and pools each entry when its chunk ends."""
    proto = P.Protocol(warmup=0, min_runs=2, max_runs=2, check_every=2, sessions=3, chunk=4, seed=5)
    names = [f"e{i}" for i in range(6)]
    opened: list[str] = []
    P.measure(names, lambda n: opened.append(n) or (lambda: None), proto)
    ran, guarded, pooled = [], [], {}

    class G(P.Guard):
        def before(self, name):
            guarded.append(("before", name))

        def after(self, name):
            guarded.append(("after", name))

    def run_session(name):
        ran.append(name)
        return float(len(ran))

    def pool(sessions):
        return {"median": P.quantile(sorted(sessions), 0.5), "n": len(sessions)}

    res = P.measure_sessions(names, run_session, pool, proto, G(), on_entry=lambda n, s: pooled.setdefault(n, s))
    assert ran == opened and guarded == [(w, n) for n in ran for w in ("before", "after")]
    assert list(pooled) == names and all(s["n"] == 3 for s in res.values()) and res == pooled


def test_thermal_guard_waits_until_cool_and_reports():
    temps = iter([80.0, 72.0, 66.0, 64.0, 50.0])
    now = [0.0]
    reports = []
    g = P.ThermalGuard({"max_temp_c": 70, "poll_s": 2}, read_temps=lambda: [40.0, next(temps)],
                       report=reports.append, sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    got = g.before("e0")  # 80 > 70: wait until <= 65 (resume: 5 below the limit)
    assert got == {"temp_c": 64.0, "waited_s": 6.0} and reports[-1]["gave_up"] is False
    assert g.before("e1") == {"temp_c": 50.0}  # cool: no wait
    s = g.summary()
    assert (s["temp_start_c"], s["temp_max_c"], s["temp_end_c"], s["cooldown_waits"], s["cooldown_s"]) == \
        (80.0, 80.0, 50.0, 1, 6.0)
    hot = P.ThermalGuard({"max_temp_c": 70, "max_wait_s": 3, "poll_s": 2}, read_temps=lambda: [90.0],
                         sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert hot.before("e")["waited_s"] == 4.0 and hot.summary()["cooldown_gave_up"] == 1
    assert P.ThermalGuard({}, read_temps=list).before("x") == {"temp_c": None}  # no limit, no zones


def test_adb_pools_session_reports_with_the_protocols_median():
    from ofa_deploy.devices.benchmark_model import BenchmarkResult, RunStats, pool_sessions

    runs = [BenchmarkResult(RunStats(count=10, avg=a, std=0.1, min=0.9, max=1.2))
            for a in (1.0, 3.0, 2.0, 10.0)]
    st = pool_sessions(runs)
    assert st["median"] == P.quantile([1.0, 2.0, 3.0, 10.0], 0.5) == 2.5 and st["count"] == 40
