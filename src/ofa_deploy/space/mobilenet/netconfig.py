"""The MobileNet family's official `net.config` (OFA `MobileNetV3` / `ProxylessNASNets`): written
in the current upstream naming (`ResidualBlock` / `MBConvLayer`) or the released files' legacy one
(`MobileInvertedResidualBlock` / `MBInvertedConvLayer`), read in either, its space inferred from
the channel widths (`infer_space`) and every layer's channels checked against it.
"""

from __future__ import annotations

from typing import Any

from ...errors import FormatError, OfaDeployError, SpaceError
from ..spec import make_divisible
from .arch import Arch
from .kinds import get_kind
from .spec import SpaceSpec

_CONV_COMMON = {"dilation": 1, "groups": 1, "bias": False, "has_shuffle": False, "use_se": False,
                "dropout_rate": 0, "ops_order": "weight_bn_act"}


def _conv_layer(cin: int, cout: int, k: int, stride: int, use_bn: bool, act: str, legacy: bool = False) -> dict[str, Any]:
    common = {k: v for k, v in _CONV_COMMON.items() if not (legacy and k == "use_se")}
    if legacy:  # the released files: no use_se, channels right after has_shuffle
        common = {k: v for k, v in common.items() if k not in ("dropout_rate", "ops_order")}
        return {"name": "ConvLayer", "kernel_size": k, "stride": stride, **common, "in_channels": cin,
                "out_channels": cout, "use_bn": use_bn, "act_func": act, "dropout_rate": 0,
                "ops_order": "weight_bn_act"}
    return {"name": "ConvLayer", "kernel_size": k, "stride": stride, **common, "in_channels": cin,
            "out_channels": cout, "use_bn": use_bn, "act_func": act}


def _identity(c: int, legacy: bool = False) -> dict[str, Any]:
    ch: Any = [c] if legacy else c  # the released files list the identity's channels
    return {"name": "IdentityLayer", "in_channels": ch, "out_channels": ch, "use_bn": False, "act_func": None,
            "dropout_rate": 0, "ops_order": "weight_bn_act"}


def _mbconv(cin: int, cout: int, k: int, stride: int, e: int, mid: int | None, act: str, se: bool,
            shortcut: bool, legacy: tuple[str, str] | None) -> dict[str, Any]:
    conv = {"name": "MBConvLayer", "in_channels": cin, "out_channels": cout, "kernel_size": k, "stride": stride,
            "expand_ratio": e, "mid_channels": mid, "act_func": act, "use_se": se, "groups": None}
    if legacy is not None:  # the released files' names (MobileInvertedResidualBlock / MBInvertedConvLayer)
        conv["name"] = legacy[1]
        conv.pop("groups")
        return {"name": legacy[0], "mobile_inverted_conv": conv,
                "shortcut": _identity(cin, True) if shortcut else None}
    return {"name": "ResidualBlock", "conv": conv, "shortcut": _identity(cin) if shortcut else None}


def mobilenet_net_config(spec: SpaceSpec, arch: Arch, dropout_rate: float = 0, legacy: bool = False) -> dict[str, Any]:
    """The MobileNet family's `net.config` (legacy: `MobileInvertedResidualBlock` / `mobile_inverted_conv`)."""
    kind = spec.kind_info
    names = kind.legacy_block_names if legacy else None
    c0, c1 = spec.first_conv_width, spec.first_block_width
    blocks = [_mbconv(c0, c1, 3, 1, 1, None, kind.first_block_act, False, spec.first_block_shortcut, names)]
    for b in arch.blocks(spec):
        blocks.append(_mbconv(b["in_channels"], b["out_channels"], b["kernel_size"], b["stride"], b["expand_ratio"],
                              b["mid_channels"], b["act"], b["se"], b["shortcut"], names))
    out: dict[str, Any] = {
        "name": kind.net_name,
        "bn": {"momentum": 0.1, "eps": kind.bn_eps} if legacy else {"momentum": 0.1, "eps": kind.bn_eps, "ws_eps": None},
        "first_conv": _conv_layer(spec.in_channels, c0, 3, 2, True, kind.stem_act, legacy),
        "blocks": blocks,
    }
    for h, cin, cout in spec.head_layers():
        out[h.name] = _conv_layer(cin, cout, 1, 1, h.use_bn, h.act, legacy)
    out["classifier"] = {"name": "LinearLayer", "in_features": spec.last_channel, "out_features": spec.n_classes,
                         "bias": True, "use_bn": False, "act_func": None, "dropout_rate": dropout_rate,
                         "ops_order": "weight_bn_act"}
    return out


def infer_space(first_width: int, stage_widths: list[int], final_expand: int | None, last: int | None,
                n_classes: int, in_channels: int = 3, kind: str = "ofa_mbv3",
                head_widths: list[int | None] | None = None) -> SpaceSpec:
    """The space of `kind` whose derived widths are the given ones (width multiplier found by
    search). `head_widths`: the head convs' widths (None where unknown); for MobileNetV3 they may
    be given as `final_expand` and `last` instead."""
    info = get_kind(kind)
    if head_widths is None:
        head_widths = [final_expand, last] if len(info.head) == 2 else [last]
    candidates = sorted({round(0.05 * i, 2) for i in range(4, 61)} | set(info.known_widths))
    for wm in candidates:
        if make_divisible(info.base_first_conv * wm) != first_width:
            continue
        spec = SpaceSpec(width_mult=wm, n_classes=n_classes, in_channels=in_channels, kind=kind)
        if list(spec.stage_widths) != list(stage_widths):
            continue
        if any(w is not None and w != got for w, got in zip(head_widths, spec.head_widths)):
            continue
        return spec
    raise FormatError(
        f"channel widths (first {first_width}, stages {stage_widths}, last {last if last is not None else head_widths[-1]}) "
        f"match no {info.title} width multiplier between 0.2 and 3.0"
    )


def read_mobilenet_net_config(cfg: dict[str, Any], image_size: int | None,
                              kind: str) -> tuple[SpaceSpec, Arch, dict[str, Any]]:
    """A net.config of a MobileNet-family kind, its space inferred from the channel widths."""
    try:
        return _from_net_config(cfg, image_size, kind)
    except OfaDeployError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        what = f"missing field {e}" if isinstance(e, KeyError) else f"malformed value ({e})"
        raise FormatError(f"net.config has a {what}; is it an official OFA net.config?") from None


def _from_net_config(cfg: dict[str, Any], image_size: int | None, kind: str) -> tuple[SpaceSpec, Arch, dict[str, Any]]:
    blocks = [_block_conv(b) for b in cfg["blocks"]]
    first = cfg["first_conv"]
    n_classes = int(cfg["classifier"]["out_features"])
    info = get_kind(kind)
    head_widths = [int(cfg[h.name]["out_channels"]) for h in info.head]
    if len(blocks) < 2:
        raise FormatError("net.config has no elastic blocks")
    stage_widths: list[int] = []
    depths: list[int] = []
    ks: list[list[int]] = []
    es: list[list[int]] = []
    for conv in blocks[1:]:
        out = int(conv["out_channels"])
        if not stage_widths or out != stage_widths[-1]:
            stage_widths.append(out)
            depths.append(0)
            ks.append([])
            es.append([])
        depths[-1] += 1
        ks[-1].append(int(conv["kernel_size"]))
        es[-1].append(_expand_ratio(conv))
    spec = infer_space(int(first["out_channels"]), stage_widths, None, None, n_classes,
                       int(first.get("in_channels", 3)), kind=kind, head_widths=head_widths)
    for s, d in enumerate(depths):
        if d > spec.stage_max_depths[s]:
            raise FormatError(f"net.config stage {s + 1} has {d} blocks; the space allows at most "
                              f"{spec.stage_max_depths[s]}")
    flat_ks = [k for s, stage in enumerate(ks) for k in stage + [spec.ks_list[0]] * (spec.stage_max_depths[s] - len(stage))]
    flat_e = [e for s, stage in enumerate(es)
              for e in stage + [spec.expand_list[0]] * (spec.stage_max_depths[s] - len(stage))]
    arch = Arch(tuple(flat_ks), tuple(flat_e), tuple(depths),
                image_size if image_size is not None else spec.resolutions[-1])
    try:
        arch.validate(spec, check_resolution=False)
    except SpaceError as e:
        raise FormatError(f"net.config is outside the OFA space: {e}") from None
    _check_channels(spec, arch, cfg, blocks)
    _check_mid_channels(spec, arch, blocks[1:])
    meta = {} if image_size is not None else {"note": "no run.config beside net.config: resolution set to the space's largest"}
    return spec, arch, meta


def _check_channels(spec: SpaceSpec, arch: Arch, cfg: dict[str, Any], convs: list[dict[str, Any]]) -> None:
    """Every layer's in/out channels are the ones the inferred space gives it (so each block takes
    what the previous one gives); the first mismatch is named with the value expected."""
    expected: list[tuple[str, Any, int, str]] = [
        ("first_conv", cfg["first_conv"].get("out_channels"), spec.first_conv_width, "out_channels"),
        ("blocks[0]", convs[0].get("in_channels"), spec.first_conv_width, "in_channels"),
        ("blocks[0]", convs[0].get("out_channels"), spec.first_block_width, "out_channels"),
    ]
    for n, (b, conv) in enumerate(zip(arch.blocks(spec), convs[1:]), start=1):
        expected.append((f"blocks[{n}]", conv.get("in_channels"), b["in_channels"], "in_channels"))
        expected.append((f"blocks[{n}]", conv.get("out_channels"), b["out_channels"], "out_channels"))
    for h, cin, _ in spec.head_layers():
        expected.append((h.name, cfg[h.name].get("in_channels"), cin, "in_channels"))
    expected.append(("classifier", cfg["classifier"].get("in_features"), spec.last_channel, "in_features"))
    for where, got, want, name in expected:
        if got is None:  # absent: nothing to contradict
            continue
        value = got[0] if isinstance(got, list) and len(got) == 1 else got
        if isinstance(value, bool) or not isinstance(value, int) or value != want:
            raise FormatError(f"net.config {where}: {name} {got!r}, expected {want} (the {spec.kind_info.title} "
                              f"w{spec.width_mult:g} space its other widths imply); its layers do not chain")


def _block_conv(block: dict[str, Any]) -> dict[str, Any]:
    conv = block.get("conv") or block.get("mobile_inverted_conv")
    if not isinstance(conv, dict):
        raise FormatError(f"net.config block {block.get('name')!r} has neither 'conv' nor 'mobile_inverted_conv'")
    return conv


def _expand_ratio(conv: dict[str, Any]) -> int:
    e = conv.get("expand_ratio")
    if e is None or float(e) != int(e):
        raise FormatError(f"block expand ratio {e!r} is not an OFA expand ratio")
    return int(e)


def _check_mid_channels(spec: SpaceSpec, arch: Arch, convs: list[dict[str, Any]]) -> None:
    for b, conv in zip(arch.blocks(spec), convs):
        mid = conv.get("mid_channels")
        if mid is not None and int(mid) != b["mid_channels"]:
            raise FormatError(
                f"block {b['slot']}: mid_channels {mid} differs from the OFA rule "
                f"make_divisible(round({b['in_channels']} * {b['expand_ratio']}), 8) = {b['mid_channels']}"
            )


__all__ = ["infer_space", "mobilenet_net_config", "read_mobilenet_net_config"]
