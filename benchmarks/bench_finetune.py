"""What `ofa-deploy finetune` delivers on the shipped demo supernet (issue 25's targets).

Three subnets at 32 px: the middle and the smallest of `report.md`, and the subnet
`search --verify --latency 0.35ms` delivers (device cpu, shipped table). Each is fine-tuned with the
`finetune-demo` recipe for `--epochs` (the target: at most 5) through the CLI, in a separate process,
as a user runs it. Printed per subnet: test top-1 on the 10,000 Fashion-MNIST test images extracted
(BN recalibrated, as `report.md`) and fine-tuned (its trained BN, as exported), the gain (target:
>= +0.3), the from-scratch figure of `report.md` (30 epochs; target: fine-tuned >= it - 0.05; `--scratch`
also runs `finetune --from-scratch` with the same epochs), seconds per epoch (target: <= 180 on 2
cores). Then the 2-process torchrun speed-up over one process of `--threads` threads, on `--speed-steps` steps
of the middle subnet (target: >= 1.5x). Run on an idle machine:
    PYTHONPATH=src python benchmarks/bench_finetune.py [--epochs 5] [--scratch]
A quick check that it works: --epochs 1 --steps 10 --eval-images 1000 --speed-steps 5 --threads 1
(figures then mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

SUBNETS = ("middle", "smallest", "search 0.35ms")


def _run(args: list[str], env: dict[str, str], torchrun: int = 0) -> dict:
    head = [sys.executable, "-m", "ofa_deploy"]
    if torchrun:
        head = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(torchrun), "--master_port",
                str(29900 + os.getpid() % 90), "-m", "ofa_deploy"]
    out = subprocess.run([*head, *args, "--json"], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args[:1])} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=None, help="Cap of steps per epoch (quick checks only).")
    ap.add_argument("--eval-images", type=int, default=None, help="Test images (default: all 10,000).")
    ap.add_argument("--scratch", action="store_true", help="Also run finetune --from-scratch with the same epochs.")
    ap.add_argument("--speed-steps", type=int, default=60, help="Steps of the torchrun speed-up measurement.")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the single-process runs (2 cores: 2; "
                    "on a loaded machine 1, since OpenMP threads that wait for each other slow down 10-20x).")
    args = ap.parse_args()

    from ofa_deploy.nn.shipped import shipped_supernet_path
    from ofa_deploy.space import Subnet, middle_arch, save_subnet, smallest_arch
    from ofa_deploy.space.checkpoint import checkpoint_space
    from ofa_deploy.train.finetune_recipe import load_finetune_recipe

    work = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    env = {**os.environ, "OFA_DEPLOY_HOME": str(work / "home"), "OMP_NUM_THREADS": str(args.threads)}
    supernet = shipped_supernet_path()
    spec = checkpoint_space(supernet)
    shipped = json.loads((supernet.parent / "report.json").read_text())
    scratch_30 = {s["subnet"]: s["top1"] for s in shipped.get("from_scratch", [])}

    raw = dict(load_finetune_recipe("finetune-demo").raw)
    if args.steps:
        raw["steps_per_epoch"] = args.steps
    if args.eval_images:
        raw["eval_images"] = args.eval_images
    recipe = work / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw))

    files = {"middle": save_subnet(Subnet(spec, middle_arch(spec, 32)), work / "middle.json"),
             "smallest": save_subnet(Subnet(spec, smallest_arch(spec, 32)), work / "smallest.json")}
    found = _run(["search", "--latency", "0.35ms", "--device", "cpu", "--verify", "--out",
                  str(work / "searched.json")], env)
    files["search 0.35ms"] = work / "searched.json"
    print(f"load {os.getloadavg()[0]:.2f}; search delivered {found['results'][0]['arch'] if 'results' in found else ''}")

    head = (f"{'subnet':<14} {'extracted':>9} {'fine-tuned':>10} {'gain':>6} {'scratch(rep)':>12} "
            f"{'scratch(now)':>12} {'s/epoch':>8} {'targets':>8}")
    print(f"finetune-demo, {args.epochs} epoch(s), KD from the largest subnet; top-1 % on "
          f"{args.eval_images or 10000} test images")
    print(head)
    for name in SUBNETS:
        common = ["--subnet", str(files[name]), "-s", str(supernet), "--recipe", str(recipe),
                  "--epochs", str(args.epochs), "--threads", str(args.threads)]
        done = _run(["finetune", *common, "--out", str(work / f"ft-{name.split()[0]}")], env)
        now = None
        if args.scratch:
            now = _run(["finetune", *common, "--from-scratch", "--out", str(work / f"sc-{name.split()[0]}")],
                       env)["top1"]
        before, after = done["top1_before"], done["top1"]
        ref = scratch_30.get(name)
        ok = after >= before + 0.3 and (ref is None or after >= ref - 0.05) and done["seconds_per_epoch"] <= 180
        print(f"{name:<14} {before:>9.2f} {after:>10.2f} {after - before:>+6.2f} "
              f"{(f'{ref:.2f}' if ref is not None else '-'):>12} {(f'{now:.2f}' if now is not None else '-'):>12} "
              f"{done['seconds_per_epoch']:>8.1f} {'met' if ok else 'missed':>8}")

    # torchrun: the same steps (same images per step, all processes together) with 1 and 2 processes
    raw_speed = {**raw, "steps_per_epoch": args.speed_steps, "eval_images": 500}
    speed = work / "speed.yaml"
    speed.write_text(yaml.safe_dump(raw_speed))
    common = ["--subnet", str(files["middle"]), "-s", str(supernet), "--recipe", str(speed), "--epochs", "1"]
    one = _run(["finetune", *common, "--threads", str(args.threads), "--out", str(work / "speed-1")], env)
    two = _run(["finetune", *common, "--threads", "1", "--out", str(work / "speed-2")],
               {**env, "OMP_NUM_THREADS": "1"}, torchrun=2)
    s1, s2 = one["seconds_per_epoch"], two["seconds_per_epoch"]
    print(f"torchrun, middle subnet, {args.speed_steps} steps of {raw['batch_size']} images: 1 process x {args.threads} thread(s) "
          f"{s1:.1f} s, 2 processes x 1 thread {s2:.1f} s: speed-up {s1 / s2:.2f}x (target >= 1.5x)")
    print(f"files in {work}")


if __name__ == "__main__":
    main()
