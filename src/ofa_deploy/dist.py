"""torchrun processes and torch devices: which process this is, joining the group, where to compute.

Commands that scale out (`train`, `predictor dataset`) run unchanged under
`torchrun --nproc_per_node N`: WORLD_SIZE, RANK and LOCAL_RANK tell each process its place.
"""

from __future__ import annotations

import os

import torch

from .errors import DeviceError

DEVICES = ("cpu", "cuda")


def dist_info() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside torchrun."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(backend: str = "gloo") -> bool:
    """Join the process group when started by torchrun (WORLD_SIZE > 1); True when this call joined it."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group(backend)
        return True
    return False


def threads_per_process(threads: int | None) -> int | None:
    """The torch intra-op threads of this process: `threads` as given (per process); under torchrun
    without it, the CPU cores this process may run on shared out over the node's processes
    (LOCAL_WORLD_SIZE), at least one each. Why: torchrun sets OMP_NUM_THREADS=1 in every process,
    which leaves cores idle when there are more cores than processes, while more threads than cores
    make OpenMP threads wait for each other. None (one process, no `threads`): torch's own default,
    one thread per core."""
    if threads is not None or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return threads
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1"))))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // local)


def torch_device(name: str) -> torch.device:
    """`cpu`, `cuda` or `cuda:N` as a torch device; under torchrun `cuda` is this process's GPU
    (LOCAL_RANK, modulo the GPUs present). `DeviceError` saying what to do when CUDA is asked for
    and absent."""
    kind, _, index = str(name).partition(":")
    if kind not in DEVICES or (index and not index.isdigit()) or (index and kind == "cpu"):
        raise DeviceError(f"--device {name!r}: choose cpu, cuda or cuda:N")
    if kind == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise DeviceError(f"--device {name}: no CUDA device is usable here (torch {torch.__version__}, {build}); "
                          "run with --device cpu, or on a machine with an NVIDIA GPU and a CUDA build of torch")
    count = torch.cuda.device_count()
    n = int(index) if index else int(os.environ.get("LOCAL_RANK", "0")) % count
    if n >= count:
        raise DeviceError(f"--device {name}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    return torch.device("cuda", n)
