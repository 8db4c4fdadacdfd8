"""Core benchmarks per kind of space: time to extract the largest subnet, cost evaluations per
second for 100k archs (target >= 1 M archs/s).

    python benchmarks/bench_core.py
"""

from __future__ import annotations

import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from ofa_deploy.nn import OFASupernet
from ofa_deploy.nn.resnet50 import OFAResNet50
from ofa_deploy.space import SpaceSpec, cost_model, largest_arch, sample_archs
from ofa_deploy.space.resnet50 import (
    ResNet50Spec,
    largest_resnet_arch,
    resnet_cost_model,
    sample_resnet_archs,
)


def best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    torch.set_num_threads(1)
    table = Table(title="ofa-deploy core (best of 5)")
    for col in ("space", "what", "result"):
        table.add_column(col)
    spaces = [("MobileNetV3 w1.2", SpaceSpec(width_mult=1.2)),
              ("MobileNetV3 w0.5", SpaceSpec(width_mult=0.5, n_classes=10)),
              ("ProxylessNAS w1.3", SpaceSpec(width_mult=1.3, kind="ofa_proxyless"))]
    for label, spec in spaces:
        net = OFASupernet(spec).eval()
        arch = largest_arch(spec)
        t_extract = best_of(lambda net=net, arch=arch: net.extract(arch))
        table.add_row(label, "extract largest subnet", f"{t_extract * 1e3:.1f} ms")
        batch = sample_archs(spec, 100_000, np.random.default_rng(0))
        model = cost_model(spec)
        t_both = best_of(lambda model=model, batch=batch: model.params_and_macs(batch))
        table.add_row(label, "params + MACs of 100k archs", f"{t_both * 1e3:.1f} ms "
                      f"({100_000 / t_both / 1e6:.1f} M archs/s)")
    # ResNet50: the official space (stage widths 256..2048, ~0.2 GB of fp32 weights) and the golden one.
    for widths in ((256, 512, 1024, 2048), (112, 224, 448, 896)):
        spec = ResNet50Spec(stage_base_widths=widths)
        net = OFAResNet50(spec).eval()
        arch = largest_resnet_arch(spec)
        name = f"ResNet50 stages {widths[0]}..{widths[-1]}"
        t_extract = best_of(lambda net=net, arch=arch: net.extract(arch))
        table.add_row(name, "extract largest subnet", f"{t_extract * 1e3:.1f} ms")
        batch = sample_resnet_archs(spec, 100_000, np.random.default_rng(0))
        model = resnet_cost_model(spec)
        t_both = best_of(lambda model=model, batch=batch: model.params_and_macs(batch))
        table.add_row(name, "params + MACs of 100k archs", f"{t_both * 1e3:.1f} ms "
                      f"({100_000 / t_both / 1e6:.1f} M archs/s)")
        del net
    Console().print(table)


if __name__ == "__main__":
    main()
