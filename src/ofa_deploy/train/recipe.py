"""Training recipes (YAML): the space, the data, the optimiser and the progressive-shrinking phases.

A phase names the choices it samples from (kernel sizes, expand ratios, depths); the elastic-width
phases ask for channel sorting first (`sort_channels: <expand stage>`, upstream semantics).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .. import checks, paths
from ..data.batches import CROP_FILLS, DEFAULT_CROP_FILL
from ..errors import BadValueError, FormatError, SpaceError
from ..space import FamilySpec, middle_choice, spec_from_dict
from ..space.genes import gene_space


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
    width: list[float] = field(default_factory=list)  # width multipliers (ResNet50's elastic width)

    @property
    def choices(self) -> dict[str, list[Any]]:
        """Every dimension's choices by recipe field name (those of the space's kind are non-empty)."""
        return {"ks": self.ks, "expand": self.expand, "depth": self.depth, "width": self.width}


@dataclass
class Recipe:
    name: str
    space: FamilySpec
    data: dict[str, Any]
    batch_size: int
    momentum: float
    nesterov: bool
    weight_decay: float
    label_smoothing: float
    phases: list[Phase]
    bn_images: int = 2000
    bn_batch: int | None = None  # None: the dataset's own (a folder 200, in memory 250)
    bn_transform: str | None = None  # "train" | "eval"; None: the dataset's own (a folder train, in memory eval)
    eval_images: int | None = None
    steps_per_epoch: int | None = None
    seed: int = 0
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


def recipe_names() -> list[str]:
    return paths.shipped_recipe_names()


def load_recipe(name_or_path: str | Path) -> Recipe:
    raw, source = read_recipe(name_or_path, paths.shipped_recipe, recipe_names())
    return parse_recipe(raw, source)


def read_recipe(name_or_path: str | Path, shipped: Callable[[str], Path | None], names: list[str],
                folder: str = "recipes") -> tuple[Any, str]:
    """(parsed YAML, source name) of a recipe file, or of a shipped recipe of that name (`shipped`)."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise FormatError(f"recipe file {p} not found")
        text, source = p.read_text(), str(p)
    else:
        f = shipped(str(name_or_path))
        if f is None:
            raise FormatError(f"unknown recipe {name_or_path!r}: choose one of {', '.join(names)} "
                              "or give a YAML file")
        text, source = f.read_text(), f"{folder}/{name_or_path}.yaml"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise FormatError(f"{source}: invalid YAML ({str(e).splitlines()[0]})") from None
    return raw, source


# The fields a recipe may have; any other (a typo such as `learning_rate:`) is refused, never ignored.
TOP_FIELDS = ("name", "space", "data", "batch_size", "optimizer", "phases", "bn_images", "bn_batch", "bn_transform",
              "eval_images", "steps_per_epoch", "seed", "from_scratch")
DATA_FIELDS = ("kind", "root", "val_size", "crop_fill", "train_subset", "workers", "skip_bad_images")
# imagenet: an ImageNet-style folder, streamed (`data.imagenet`); the others are read into memory.
DATA_KINDS = ("fashion-mnist", "imagenet", "synthetic")
IN_MEMORY_FIELDS = ("crop_fill", "train_subset")  # the in-memory batch stream's options
STREAMED_FIELDS = ("workers", "skip_bad_images")  # the folder reader's options
BN_TRANSFORMS = ("train", "eval")
OPTIMIZER_FIELDS = ("momentum", "nesterov", "weight_decay", "label_smoothing")
PHASE_FIELDS = ("name", "epochs", "lr", "ks", "expand", "depth", "width", "subnets_per_step", "include_largest",
                "include_smallest", "kd", "sort_channels", "warmup_steps")
DIMENSIONS = ("ks", "expand", "depth", "width")  # a phase's restricted dimensions: those of the kind (`phase_dims`)
MAX_SUBNETS_PER_STEP = 64


def parse_recipe(raw: Any, source: str = "<recipe>") -> Recipe:
    """Check every field of a recipe (a bad one is named with the file) and build the `Recipe`.

    Why every field: a recipe runs for hours, and a value that slips through shows only at the end
    (`lr: nan` trained on a NaN loss and wrote a NaN supernet; `epochs: -2` trained nothing)."""
    try:
        return _parse(raw, source)
    except (BadValueError, SpaceError) as e:
        raise FormatError(f"{source}: {e}") from None


def _mapping(value: Any, what: str, known: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadValueError(f"{what} must be a mapping, got {type(value).__name__}")
    extra = [k for k in value if k not in known]
    if extra:
        raise BadValueError(f"unknown {what} field(s) {extra}; known: {', '.join(known)}")
    return value


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise BadValueError(f"{what} must be true or false, got {value!r}")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise BadValueError(f"{what} must be a non-empty name, got {value!r}")
    return str(value)


def _choices(value: Any, what: str, allowed: tuple[Any, ...]) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise BadValueError(f"{what} must be a non-empty list of the space's {list(allowed)}, got {value!r}")
    if all(isinstance(a, int) for a in allowed):
        values = [checks.integer(v, what) for v in value]
    else:  # ratios (ResNet50's expand ratios and width multipliers): the space's exact values
        values = [next((a for a in allowed if abs(checks.number(v, what) - a) <= 1e-9), v) for v in value]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise BadValueError(f"{what} {bad} not in the space's {list(allowed)}")
    return values


def parse_data(value: Any) -> dict[str, Any]:
    """A recipe's `data` mapping, every field checked (training and fine-tuning recipes alike)."""
    data = dict(_mapping(value, "data", DATA_FIELDS))
    kind = data.get("kind", "fashion-mnist")
    if kind == "folder":
        raise BadValueError("data.kind 'folder' (the old in-memory 36-px reader) is gone: write kind: imagenet, "
                            "which streams the folder with the official OFA transforms")
    if kind not in DATA_KINDS:
        raise BadValueError(f"data.kind {kind!r} is not one of {', '.join(DATA_KINDS)}")
    misplaced = [k for k in (IN_MEMORY_FIELDS if kind == "imagenet" else STREAMED_FIELDS) if k in data]
    if misplaced:
        raise BadValueError(f"data field(s) {misplaced} do not apply to data.kind {kind!r} "
                            f"({', '.join(IN_MEMORY_FIELDS)}: in-memory datasets; {', '.join(STREAMED_FIELDS)}: imagenet)")
    checks.integer(data.get("workers"), "data.workers", 0, 64, optional=True)
    if "skip_bad_images" in data:
        _flag(data["skip_bad_images"], "data.skip_bad_images")
    if data.get("root") is not None and not isinstance(data["root"], str):
        raise BadValueError(f"data.root must be a folder path, got {data['root']!r}")
    if "val_size" in data:
        checks.integer(data["val_size"], "data.val_size", 1)
    checks.integer(data.get("train_subset"), "data.train_subset", 1, optional=True)
    if data.get("crop_fill", DEFAULT_CROP_FILL) not in CROP_FILLS:
        raise BadValueError(f"data.crop_fill {data['crop_fill']!r} is not one of {', '.join(CROP_FILLS)} "
                            "(what the random crop's padding shows)")
    return data


def parse_optimizer(value: Any) -> dict[str, Any]:
    """A recipe's `optimizer` mapping, checked: momentum, nesterov, weight_decay, label_smoothing."""
    opt = _mapping(value, "optimizer", OPTIMIZER_FIELDS)
    return {
        "momentum": checks.number(opt.get("momentum", 0.9), "optimizer.momentum", 0, 1, hi_open=True),
        "nesterov": _flag(opt.get("nesterov", True), "optimizer.nesterov"),
        "weight_decay": checks.number(opt.get("weight_decay", 3e-5), "optimizer.weight_decay", 0),
        "label_smoothing": checks.number(opt.get("label_smoothing", 0.1), "optimizer.label_smoothing", 0, 1,
                                         hi_open=True),
    }


def _parse(raw: Any, source: str) -> Recipe:
    if isinstance(raw, dict) and raw.get("kind") == "finetune":
        raise BadValueError("this is a fine-tuning recipe (kind: finetune): run it with `ofa-deploy finetune "
                            "--recipe`, not `ofa-deploy train`")
    raw = _mapping(raw, "recipe", TOP_FIELDS)
    for key in ("space", "phases"):
        if key not in raw:
            raise BadValueError(f"the recipe has no {key!r}")
    try:
        space = spec_from_dict(raw["space"])
    except SpaceError as e:
        raise BadValueError(f"space: {e}") from None
    data = parse_data(raw.get("data", {}))
    opt = parse_optimizer(raw.get("optimizer", {}))
    phases_raw = raw["phases"]
    if not isinstance(phases_raw, list) or not phases_raw:
        raise BadValueError("phases must be a non-empty list of phases")
    phases: list[Phase] = []
    for i, ph in enumerate(phases_raw):
        phases.append(_phase(ph, i, space))
    names = [ph.name for ph in phases]
    if len(set(names)) != len(names):
        raise BadValueError(f"phase names must differ (the log and the reports tell phases by name): {names}")
    return Recipe(space=space, data=data, **opt, phases=phases, **parse_run_fields(raw, source))


def parse_run_fields(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """The fields every recipe (training or fine-tuning) has besides its data, optimiser and schedule:
    name, batch size, BN calibration and evaluation images, steps per epoch, seed; checked."""
    return {
        "name": _text(raw.get("name", Path(source).stem), "name"),
        "batch_size": checks.count(raw.get("batch_size", 128), "batch_size", checks.MAX_BATCH),
        "bn_images": checks.count(raw.get("bn_images", 2000), "bn_images", checks.MAX_IMAGES),
        "bn_batch": checks.count(raw.get("bn_batch"), "bn_batch", checks.MAX_BATCH, optional=True),
        "bn_transform": _bn_transform(raw.get("bn_transform")),
        "eval_images": checks.count(raw.get("eval_images"), "eval_images", checks.MAX_IMAGES, optional=True),
        "steps_per_epoch": checks.integer(raw.get("steps_per_epoch"), "steps_per_epoch", 1, optional=True),
        "seed": checks.seed(raw.get("seed", 0), "seed"), "source": source, "raw": raw,
    }


def _bn_transform(value: Any) -> str | None:
    if value is not None and value not in BN_TRANSFORMS:
        raise BadValueError(f"bn_transform {value!r} is not one of {', '.join(BN_TRANSFORMS)} (the transform of "
                            "the BN calibration images)")
    return value


def _phase(ph: Any, i: int, space: FamilySpec) -> Phase:
    ph = _mapping(ph, f"phases[{i}]", PHASE_FIELDS)
    for key in ("name", "epochs", "lr"):
        if key not in ph:
            raise BadValueError(f"phases[{i}] has no {key!r}")
    name = _text(ph["name"], f"phases[{i}].name")
    what = f"phase {name!r}"
    dims = gene_space(space).phase_dims()
    for dim in DIMENSIONS:
        if dim in ph and dim not in dims:
            raise BadValueError(f"{what} {dim}: {space.family.title} has no such dimension (its phases restrict "
                                f"{', '.join(dims)})")
    picked = {dim: _choices(ph.get(dim, [max(allowed)]), f"{what} {dim}", allowed) for dim, allowed in dims.items()}
    phase = Phase(
        name=name, epochs=checks.positive(ph["epochs"], f"{what} epochs"),
        lr=checks.positive(ph["lr"], f"{what} lr"),
        ks=picked.get("ks", []), expand=picked["expand"], depth=picked["depth"], width=picked.get("width", []),
        subnets_per_step=checks.integer(ph.get("subnets_per_step", 1), f"{what} subnets_per_step", 1,
                                        MAX_SUBNETS_PER_STEP),
        include_largest=_flag(ph.get("include_largest", False), f"{what} include_largest"),
        include_smallest=_flag(ph.get("include_smallest", False), f"{what} include_smallest"),
        kd=checks.number(ph.get("kd", 0.0), f"{what} kd", 0),
        sort_channels=checks.integer(ph.get("sort_channels"), f"{what} sort_channels", 0,
                                     len(space.expand_list) - 1, optional=True),
        warmup_steps=checks.integer(ph.get("warmup_steps", 0), f"{what} warmup_steps", 0),
    )
    if i == 0 and phase.kd > 0:
        raise BadValueError(f"{what} kd must be 0: the first phase trains the teacher the later phases distil from")
    if phase.include_largest and phase.include_smallest and phase.subnets_per_step < 2:
        raise BadValueError(f"{what} includes the largest and the smallest subnet in every step but samples only "
                            f"{phase.subnets_per_step} subnet per step: set subnets_per_step to 2 or more")
    return phase


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
    dims = gene_space(recipe.space).phase_dims()
    picked = {dim: [{"largest": max, "middle": middle_choice, "smallest": min}[which](values)]
              for dim, values in dims.items()}
    first = recipe.phases[0]
    phase = Phase(name=f"scratch-{which}", epochs=first.epochs, lr=first.lr, ks=picked.get("ks", []),
                  expand=picked["expand"], depth=picked["depth"], width=picked.get("width", []),
                  warmup_steps=first.warmup_steps)
    # Only what the baseline uses identifies it: a later change to the elastic phases keeps it valid.
    raw = {**{k: v for k, v in recipe.raw.items() if k != "phases"}, "phases": recipe.raw["phases"][:1],
           "from_scratch": which}
    return replace(recipe, name=f"{recipe.name}-scratch-{which}", phases=[phase], raw=raw)
