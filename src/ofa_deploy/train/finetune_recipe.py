"""Fine-tuning recipes (YAML, `kind: finetune`): how a searched subnet is trained a few more epochs.

Upstream never published its `finetune@25/75` recipe (once-for-all issue #4); the shipped recipes take
the settings of upstream's progressive-shrinking phases (`train_ofa_net.py`): SGD, Nesterov momentum
0.9, weight decay 3e-5 (none on BN and biases), label smoothing 0.1, cosine schedule, base lr 2.5e-3
per 64 images, distillation from the largest subnet with `kd_ratio` 1.0. A recipe holds no space:
the subnet and its supernet bring it. Every field is checked as a training recipe's is, with the
same helpers (`recipe.parse_data`, `recipe.parse_optimizer`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import checks, paths
from ..errors import BadValueError, FormatError, SpaceError
from .recipe import _mapping, parse_data, parse_optimizer, parse_run_fields, read_recipe

FIELDS = ("kind", "name", "data", "batch_size", "optimizer", "epochs", "lr", "warmup_steps", "kd_ratio", "scratch",
          "bn_images", "bn_batch", "bn_transform", "eval_images", "steps_per_epoch", "seed")
SCRATCH_FIELDS = ("lr", "warmup_steps")


@dataclass
class FinetuneRecipe:
    name: str
    data: dict[str, Any]
    batch_size: int
    momentum: float
    nesterov: bool
    weight_decay: float
    label_smoothing: float
    epochs: int
    lr: float
    warmup_steps: int = 0
    kd_ratio: float = 1.0
    scratch_lr: float | None = None  # `--from-scratch` baseline: its own lr (default: the recipe's)
    scratch_warmup_steps: int | None = None
    bn_images: int = 2000
    bn_batch: int | None = None
    bn_transform: str | None = None
    eval_images: int | None = None
    steps_per_epoch: int | None = None
    seed: int = 0
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


def finetune_recipe_names() -> list[str]:
    return paths.shipped_finetune_recipe_names()


def load_finetune_recipe(name_or_path: str | Path) -> FinetuneRecipe:
    raw, source = read_recipe(name_or_path, paths.shipped_finetune_recipe, finetune_recipe_names(),
                              "recipes/finetune")
    return parse_finetune_recipe(raw, source)


def parse_finetune_recipe(raw: Any, source: str = "<recipe>") -> FinetuneRecipe:
    """Check every field (a bad one is named with the file) and build the recipe."""
    try:
        return _parse(raw, source)
    except (BadValueError, SpaceError) as e:
        raise FormatError(f"{source}: {e}") from None


def _parse(raw: Any, source: str) -> FinetuneRecipe:
    if isinstance(raw, dict) and "phases" in raw:
        raise BadValueError("this is a training recipe (it has phases): run it with `ofa-deploy train --recipe`; "
                            "a fine-tuning recipe has kind: finetune")
    raw = _mapping(raw, "recipe", FIELDS)
    if raw.get("kind") != "finetune":
        raise BadValueError(f"kind must be finetune (what this recipe is for), got {raw.get('kind')!r}")
    for key in ("epochs", "lr"):
        if key not in raw:
            raise BadValueError(f"the recipe has no {key!r}")
    scratch = _mapping(raw.get("scratch", {}), "scratch", SCRATCH_FIELDS)
    return FinetuneRecipe(
        data=parse_data(raw.get("data", {})), **parse_optimizer(raw.get("optimizer", {})),
        epochs=checks.count(raw["epochs"], "epochs", 100000),
        lr=checks.positive(raw["lr"], "lr"),
        warmup_steps=checks.integer(raw.get("warmup_steps", 0), "warmup_steps", 0),
        kd_ratio=checks.number(raw.get("kd_ratio", 1.0), "kd_ratio", 0),
        scratch_lr=checks.positive(scratch["lr"], "scratch.lr") if "lr" in scratch else None,
        scratch_warmup_steps=checks.integer(scratch.get("warmup_steps"), "scratch.warmup_steps", 0, optional=True),
        **parse_run_fields(raw, source),
    )

def default_recipe(n_classes: int) -> str:
    """The shipped recipe for a supernet: ImageNet's for 1000 classes, else the demo's."""
    return "finetune-imagenet" if n_classes == 1000 else "finetune-demo"
