"""Training recipes (YAML): the space, the data, the optimiser and the progressive-shrinking phases.

A phase names the choices it samples from (kernel sizes, expand ratios, depths); the elastic-width
phases ask for channel sorting first (`sort_channels: <expand stage>`, upstream semantics).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .. import paths
from ..data.batches import CROP_FILLS, DEFAULT_CROP_FILL
from ..errors import FormatError
from ..space import SpaceSpec, middle_choice


@dataclass
class Phase:
    name: str
    epochs: float
    lr: float
    ks: list[int]
    expand: list[int]
    depth: list[int]
    subnets_per_step: int = 1
    include_largest: bool = False
    include_smallest: bool = False  # the sandwich rule (BigNAS): the phase's smallest subnet every step
    kd: float = 0.0
    sort_channels: int | None = None
    warmup_steps: int = 0


@dataclass
class Recipe:
    name: str
    space: SpaceSpec
    data: dict[str, Any]
    batch_size: int
    momentum: float
    nesterov: bool
    weight_decay: float
    label_smoothing: float
    phases: list[Phase]
    bn_images: int = 2000
    eval_images: int | None = None
    steps_per_epoch: int | None = None
    seed: int = 0
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


def recipe_names() -> list[str]:
    return paths.shipped_recipe_names()


def load_recipe(name_or_path: str | Path) -> Recipe:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise FormatError(f"recipe file {p} not found")
        text, source = p.read_text(), str(p)
    else:
        f = paths.shipped_recipe(str(name_or_path))
        if f is None:
            raise FormatError(f"unknown recipe {name_or_path!r}: choose one of {', '.join(recipe_names())} "
                              "or give a YAML file")
        text, source = f.read_text(), f"recipes/{name_or_path}.yaml"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise FormatError(f"{source}: invalid YAML ({str(e).splitlines()[0]})") from None
    return parse_recipe(raw, source)


def parse_recipe(raw: Any, source: str = "<recipe>") -> Recipe:
    if not isinstance(raw, dict):
        raise FormatError(f"{source}: a recipe is a mapping")
    try:
        space = SpaceSpec.from_dict(raw["space"])
        opt = raw.get("optimizer", {})
        phases = []
        for ph in raw["phases"]:
            phases.append(Phase(
                name=str(ph["name"]), epochs=float(ph["epochs"]), lr=float(ph["lr"]),
                ks=[int(v) for v in ph.get("ks", [max(space.ks_list)])],
                expand=[int(v) for v in ph.get("expand", [max(space.expand_list)])],
                depth=[int(v) for v in ph.get("depth", [max(space.depth_list)])],
                subnets_per_step=int(ph.get("subnets_per_step", 1)),
                include_largest=bool(ph.get("include_largest", False)),
                include_smallest=bool(ph.get("include_smallest", False)),
                kd=float(ph.get("kd", 0.0)),
                sort_channels=ph.get("sort_channels"),
                warmup_steps=int(ph.get("warmup_steps", 0)),
            ))
        recipe = Recipe(
            name=str(raw.get("name", Path(source).stem)), space=space, data=dict(raw.get("data", {})),
            batch_size=int(raw.get("batch_size", 128)), momentum=float(opt.get("momentum", 0.9)),
            nesterov=bool(opt.get("nesterov", True)), weight_decay=float(opt.get("weight_decay", 3e-5)),
            label_smoothing=float(opt.get("label_smoothing", 0.1)), phases=phases,
            bn_images=int(raw.get("bn_images", 2000)), eval_images=raw.get("eval_images"),
            steps_per_epoch=raw.get("steps_per_epoch"), seed=int(raw.get("seed", 0)), source=source, raw=raw,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise FormatError(f"{source}: malformed recipe ({type(e).__name__}: {e})") from None
    for ph in recipe.phases:
        for values, allowed, what in ((ph.ks, space.ks_list, "ks"), (ph.expand, space.expand_list, "expand"),
                                      (ph.depth, space.depth_list, "depth")):
            bad = [v for v in values if v not in allowed]
            if bad:
                raise FormatError(f"{source}: phase {ph.name!r} {what} {bad} not in the space's {list(allowed)}")
        if ph.include_largest and ph.include_smallest and ph.subnets_per_step < 2:
            raise FormatError(f"{source}: phase {ph.name!r} includes the largest and the smallest subnet in every "
                              f"step but samples only {ph.subnets_per_step} subnet per step: set subnets_per_step "
                              "to 2 or more")
    if not recipe.phases:
        raise FormatError(f"{source}: no phases")
    if recipe.data.get("crop_fill", DEFAULT_CROP_FILL) not in CROP_FILLS:
        raise FormatError(f"{source}: data.crop_fill {recipe.data['crop_fill']!r} is not one of "
                          f"{', '.join(CROP_FILLS)} (what the random crop's padding shows)")
    return recipe


SCRATCH_SUBNETS = ("largest", "middle", "smallest")


def from_scratch(recipe: Recipe, which: str) -> Recipe:
    """The baseline of the paper's comparison: one fixed subnet of the recipe's space trained alone.

    It gets the budget and hyper-parameters of the recipe's first phase (the full network's
    standard training: same epochs, learning rate, warm-up, augmentation and random resolution),
    no distillation, no elastic phases. `which` is largest, middle or smallest: every block takes
    the largest, middle or smallest kernel size and expand ratio, every stage that depth.
    """
    if which not in SCRATCH_SUBNETS:
        raise FormatError(f"--from-scratch takes one of {', '.join(SCRATCH_SUBNETS)}, not {which!r}")
    spec = recipe.space

    def pick(values: tuple[int, ...]) -> list[int]:
        return [{"largest": max, "middle": middle_choice, "smallest": min}[which](values)]

    first = recipe.phases[0]
    phase = Phase(name=f"scratch-{which}", epochs=first.epochs, lr=first.lr, ks=pick(spec.ks_list),
                  expand=pick(spec.expand_list), depth=pick(spec.depth_list), warmup_steps=first.warmup_steps)
    # Only what the baseline uses identifies it: a later change to the elastic phases keeps it valid.
    raw = {**{k: v for k, v in recipe.raw.items() if k != "phases"}, "phases": recipe.raw["phases"][:1],
           "from_scratch": which}
    return replace(recipe, name=f"{recipe.name}-scratch-{which}", phases=[phase], raw=raw)
