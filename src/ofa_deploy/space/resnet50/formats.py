"""The official formats of OFA ResNet50 subnets and supernets: the `ResNets` net.config in and out,
and the space of a checkpoint read from its tensor shapes (no torch: anything with `.shape`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import CheckpointError, FormatError, SpaceError
from ..spec import make_divisible
from .spec import (
    ACT,
    BASE_DEPTH_LIST,
    BN_PARAM,
    DOWNSAMPLE_MODE,
    KERNEL_SIZE,
    STEM_WIDTH,
    ResNet50Spec,
    ResNetArch,
)


def _conv(cin: int, cout: int, stride: int) -> dict[str, Any]:
    return {"name": "ConvLayer", "kernel_size": KERNEL_SIZE, "stride": stride, "dilation": 1, "groups": 1,
            "bias": False, "has_shuffle": False, "use_se": False, "in_channels": cin, "out_channels": cout,
            "use_bn": True, "act_func": ACT, "dropout_rate": 0, "ops_order": "weight_bn_act"}


def to_net_config(spec: ResNet50Spec, arch: ResNetArch, dropout_rate: float = 0) -> dict[str, Any]:
    """The official `ResNets.config` of the extracted subnet (`OFAResNets.get_active_subnet().config`)."""
    arch = arch.validate(spec, check_resolution=False)
    mid, stem_out = arch.stem(spec)
    stem: list[dict[str, Any]] = [_conv(spec.in_channels, mid, 2)]
    if not arch.skip_stem(spec):
        stem.append({"name": "ResidualBlock", "conv": _conv(mid, mid, 1),
                     "shortcut": {"name": "IdentityLayer", "in_channels": mid, "out_channels": mid, "use_bn": False,
                                  "act_func": None, "dropout_rate": 0, "ops_order": "weight_bn_act"}})
    stem.append(_conv(mid, stem_out, 1))
    blocks = [{"name": "ResNetBottleneckBlock", "in_channels": b["in_channels"], "out_channels": b["out_channels"],
               "kernel_size": KERNEL_SIZE, "stride": b["stride"], "expand_ratio": b["expand_ratio"],
               "mid_channels": b["mid_channels"], "act_func": ACT, "groups": 1, "downsample_mode": DOWNSAMPLE_MODE}
              for b in arch.blocks(spec)]
    classifier = {"name": "LinearLayer", "in_features": arch.last_width(spec), "out_features": spec.n_classes,
                  "bias": True, "use_bn": False, "act_func": None, "dropout_rate": dropout_rate,
                  "ops_order": "weight_bn_act"}
    return {"name": "ResNets", "bn": dict(BN_PARAM), "input_stem": stem, "blocks": blocks, "classifier": classifier}


def _width_index(widths: Sequence[int], c: Any, what: str) -> int:
    if c not in widths:
        raise FormatError(f"{what} has {c} channels, not one of this space's widths {list(widths)}; pass the "
                          "space the net belongs to (its stage widths)")
    return list(widths).index(c)


def from_net_config(cfg: dict[str, Any], spec: ResNet50Spec | None = None,
                    image_size: int | None = None) -> tuple[ResNet50Spec, ResNetArch]:
    """Read an official `ResNets` net.config (a subnet of an OFA ResNet50 space) back into an arch.

    `spec` defaults to the official space (1000 classes replaced by the config's classifier width).
    Every layer is checked against what the space would build, so a config from another family,
    or one edited by hand into something the supernet cannot produce, fails with the reason.
    """
    try:
        return _from_net_config(cfg, spec, image_size)
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as e:
        what = f"missing field {e}" if isinstance(e, KeyError) else f"malformed value: {e}"
        raise FormatError(f"not an OFA ResNets net.config ({what})") from None


def _from_net_config(cfg: dict[str, Any], spec: ResNet50Spec | None,
                     image_size: int | None) -> tuple[ResNet50Spec, ResNetArch]:
    if not isinstance(cfg, dict) or cfg.get("name") != "ResNets":
        name = cfg.get("name") if isinstance(cfg, dict) else type(cfg).__name__
        raise FormatError(f"net.config name is {name!r}, not 'ResNets'")
    n_classes = int(cfg["classifier"]["out_features"])
    spec = spec or ResNet50Spec(n_classes=n_classes)
    if spec.n_classes != n_classes:
        raise FormatError(f"the net has {n_classes} classes, the space {spec.n_classes}")
    stem = cfg["input_stem"]
    if len(stem) not in (2, 3):
        raise FormatError(f"input_stem has {len(stem)} layers; an OFA ResNet50 stem has 3 (or 2 when skipped)")
    skip = len(stem) == 2
    w0 = _width_index(spec.stem_mid_widths, stem[0]["out_channels"], "the stem's first conv")
    w1 = _width_index(spec.stem_widths, stem[-1]["out_channels"], "the stem's last conv")
    blocks = cfg["blocks"]
    # Stages start where a block strides (stage 1 starts at block 0, stride 1).
    starts = [0] + [i for i, b in enumerate(blocks) if int(b["stride"]) == 2]
    if len(starts) != spec.n_stages:
        raise FormatError(f"the blocks form {len(starts)} stages (by their strides); an OFA ResNet50 has "
                          f"{spec.n_stages}")
    ends = starts[1:] + [len(blocks)]
    d = [spec.depth_list[0] if skip else spec.max_depth]
    e = [spec.expand_list[0]] * spec.n_blocks
    w = [w0, w1]
    for s, (a, b) in enumerate(zip(starts, ends)):
        depth = (b - a) - BASE_DEPTH_LIST[s]
        if depth not in spec.depth_list:
            raise FormatError(f"stage {s + 1} has {b - a} blocks; this space allows "
                              f"{[BASE_DEPTH_LIST[s] + x for x in spec.depth_list]}")
        d.append(depth)
        w.append(_width_index(spec.stage_widths[s], blocks[a]["out_channels"], f"stage {s + 1}"))
        for j in range(a, b):
            e[spec.stage_starts[s] + j - a] = float(blocks[j]["expand_ratio"])
    r = image_size if image_size is not None else spec.resolutions[-1]
    try:
        arch = ResNetArch(d, e, w, r).validate(spec, check_resolution=False)
    except SpaceError as err:
        raise FormatError(f"net.config is not a subnet of {spec.describe()}: {err}") from None
    expected = to_net_config(spec, arch, dropout_rate=cfg["classifier"].get("dropout_rate", 0))
    _check_same(cfg, expected)
    return spec, arch


def _check_same(cfg: dict[str, Any], expected: dict[str, Any]) -> None:
    """Compare the layers that define the computation (names, channels, strides, mid widths)."""
    def layers(c: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for i, layer in enumerate(c["input_stem"]):
            out.append((f"input_stem[{i}]", layer["conv"] if layer["name"] == "ResidualBlock" else layer))
        out += [(f"blocks[{i}]", b) for i, b in enumerate(c["blocks"])]
        out.append(("classifier", c["classifier"]))
        return out

    keys = ("name", "in_channels", "out_channels", "kernel_size", "stride", "mid_channels", "groups",
            "downsample_mode", "act_func", "in_features", "out_features", "use_bn", "bias")
    for (where, got), (_, want) in zip(layers(cfg), layers(expected)):
        for k in keys:
            if k in want and got.get(k, want[k]) != want[k]:
                raise FormatError(f"net.config {where} has {k} = {got.get(k)!r}; an OFA ResNet50 subnet with these "
                                  f"widths and expand ratios has {want[k]!r}")


def infer_resnet_spec_from_state(state: dict[str, Any]) -> ResNet50Spec:
    """The space of an official OFA ResNet50 checkpoint, from its tensor shapes: classes, input
    channels, the number of block slots (hence the depth list) and the stage widths at width 1.0
    (the official expand and width-multiplier lists are assumed; the strict load checks them)."""
    s = {k.removeprefix("module."): v for k, v in state.items()}

    def shape(dynamic: str) -> tuple[int, ...]:
        for k in (dynamic, dynamic.replace("conv.conv.weight", "conv.weight"), dynamic.replace(
                ".linear.linear.", ".linear.")):
            if k in s:
                return tuple(s[k].shape)
        raise KeyError(dynamic)

    try:
        n_classes, _ = shape("classifier.linear.linear.weight")
        stem0 = shape("input_stem.0.conv.conv.weight")
        n_blocks = 1 + max(int(k.split(".")[1]) for k in s if k.startswith("blocks."))
        extra, rem = divmod(n_blocks - sum(BASE_DEPTH_LIST), len(BASE_DEPTH_LIST))
        if rem or extra < 0:
            raise CheckpointError(f"checkpoint has {n_blocks} blocks; an OFA ResNet50 has "
                                  f"{sum(BASE_DEPTH_LIST)} + 4 * max depth")
        starts, i = [], 0
        for b in BASE_DEPTH_LIST:
            starts.append(i)
            i += b + extra
        widths = tuple(shape(f"blocks.{j}.conv3.conv.conv.weight")[0] for j in starts)
        stem_w = shape("input_stem.2.conv.conv.weight")[0]
    except (KeyError, ValueError, IndexError, AttributeError) as e:
        raise CheckpointError(f"checkpoint is not an OFA ResNet50 supernet (missing or malformed {e})") from None
    if stem_w != make_divisible(STEM_WIDTH):
        raise CheckpointError(f"checkpoint stem width {stem_w} is not OFA ResNet50's {STEM_WIDTH} at width 1.0")
    depth_list = tuple(d for d in (0, 1, 2) if d <= extra) if extra <= 2 else tuple(range(extra + 1))
    try:
        return ResNet50Spec(depth_list=depth_list, stage_base_widths=widths, n_classes=int(n_classes),
                            in_channels=int(stem0[1]))
    except SpaceError as e:
        raise CheckpointError(f"checkpoint shapes do not make an OFA ResNet50 space: {e}") from None
