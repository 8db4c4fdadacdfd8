"""The search on the ResNet50 kind's genes (d, e, w): dense objectives equal the public predictors,
exact minima, budgets honoured, the predictor's fast path equal to its encoding of the written arch."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from support.tables import search_table

from ofa_deploy.errors import BudgetError
from ofa_deploy.predictor import MLP, Predictor
from ofa_deploy.predictor.fit import encoding_for_space
from ofa_deploy.search import Budget, EvolutionConfig, build_problem, search
from ofa_deploy.space import cost_model
from ofa_deploy.space.resnet50 import ResNetBatch, official_resnet50_space

SPEC = official_resnet50_space()
RS = (128, 160, 224)
FAST = EvolutionConfig(population=30, generations=30)


def _predictor(spec, seed=0):
    enc = encoding_for_space(spec)
    rng = np.random.default_rng(seed)
    sizes = [enc.n_features, 32, 32, 1]
    ws = [rng.normal(0, 1 / np.sqrt(a), (b, a)) for a, b in itertools.pairwise(sizes)]
    bs = [rng.normal(0, 0.1, b) for b in sizes[1:]]
    return Predictor(spec, enc, MLP(ws, bs), spec.resolutions)


@pytest.fixture(scope="module")
def problem():
    table = search_table(SPEC, RS, seed=3, calibration={"kind": "linear", "a": 1.2, "b": 0.4})
    return build_problem(SPEC, _predictor(SPEC), table, "fake")


def test_dense_objectives_equal_the_public_predictors(problem):
    assert problem.resolutions == RS
    assert all(o.additive is not None for o in problem.objectives.values())
    g = problem.random_genes(2000, np.random.default_rng(1))
    batch = problem.to_batch(g)
    got = problem.costs(g, ("latency", "flops", "params"))
    cm = cost_model(SPEC)
    np.testing.assert_allclose(got[:, 0], problem.table.predict(batch, calibrated=True), rtol=1e-10)
    np.testing.assert_allclose(got[:, 1], cm.macs(batch), rtol=1e-12)
    np.testing.assert_allclose(got[:, 2], cm.params(batch), rtol=1e-12)
    np.testing.assert_allclose(problem.accuracy(g), problem.predictor.predict(batch), rtol=1e-6)
    back = problem.from_batch(batch)
    np.testing.assert_array_equal(problem.costs(back, ("flops",)), got[:, 1:2])


def test_equal_width_indices_are_one_subnet(problem):
    """The official stem has 24 channels at width 0.65 and 0.8: w[0] 0 and 1 are one subnet."""
    assert SPEC.stem_mid_widths[0] == SPEC.stem_mid_widths[1]
    g = problem.random_genes(50, np.random.default_rng(2))
    g0, g1 = g.x.copy(), g.x.copy()
    col = SPEC.n_stages + 1 + SPEC.n_blocks  # the first width gene
    g0[:, col], g1[:, col] = 0, 1
    from ofa_deploy.search import Genes

    a, b = Genes.of(g0), Genes.of(g1)
    np.testing.assert_array_equal(problem.accuracy(a), problem.accuracy(b))
    assert problem.to_arch(a, 0) == problem.to_arch(b, 0)


def test_minimum_is_exact_and_reached(problem):
    g = problem.random_genes(20000, np.random.default_rng(3))
    for j, name in enumerate(("latency", "flops", "params")):
        low, arch = problem.minimum(name)
        assert low <= problem.costs(g, (name,))[:, 0].min() + 1e-9
        assert problem.costs(problem.from_batch(ResNetBatch.from_archs([arch])), (name,))[0, 0] == pytest.approx(low)
    with pytest.raises(BudgetError, match="smallest achievable"):
        search(problem, Budget(flops=problem.minimum("flops")[0] * 0.99), FAST)


def test_every_budget_is_honoured_and_reproducible(problem):
    sample = problem.costs(problem.random_genes(2000, np.random.default_rng(4)), ("latency", "flops", "params"))
    budget = Budget(*np.quantile(sample, 0.4, axis=0))
    a, b = search(problem, budget, FAST, seed=1), search(problem, budget, FAST, seed=1)
    assert a.arch == b.arch and a.accuracy == b.accuracy
    one = ResNetBatch.from_archs([a.arch])
    assert a.latency_ms <= budget.latency_ms and a.flops <= budget.flops and a.params <= budget.params
    assert a.flops == cost_model(SPEC).macs(one)[0] and a.accuracy == pytest.approx(
        problem.predictor.predict(one)[0], abs=1e-7)
    assert a.arch == a.arch.canonical(SPEC)
