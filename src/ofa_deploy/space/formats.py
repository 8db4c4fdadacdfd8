"""Subnet file formats: ours (JSON / YAML), the official arch dict, official `net.config`, MMRazor.

Every reader returns a `Subnet` (space + arch + free-form metadata); every writer takes one.
`load_subnet` detects the format from the content, so users never have to say which it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import checks
from ..errors import FormatError, OfaDeployError, SpaceError
from ..fsio import atomic_write_text
from .arch import Arch
from .family import families, family_of, family_of_net, spec_from_dict
from .kinds import get_kind, kinds
from .spec import SpaceSpec, make_divisible

OUR_FORMAT = "ofa-deploy-subnet"
FORMATS = ("json", "yaml", "official", "net-config", "mmrazor")


@dataclass
class Subnet:
    """A subnet as stored in a file: the space it belongs to, the arch, and metadata."""

    spec: Any   # the space, of its family's spec class (`SpaceSpec`, `ResNet50Spec`)
    arch: Any   # its family's arch class (`Arch`, `ResNetArch`)
    meta: dict[str, Any] = field(default_factory=dict)
    source_format: str = "json"

    def validate(self, check_resolution: bool = True) -> Subnet:
        self.arch.validate(self.spec, check_resolution=check_resolution)
        return self


# ---- our own file ---------------------------------------------------------------------------
def to_ours(sub: Subnet) -> dict[str, Any]:
    out: dict[str, Any] = {"format": OUR_FORMAT, "version": 1, "space": sub.spec.to_dict(), "arch": sub.arch.to_dict()}
    if sub.meta:
        out["meta"] = sub.meta
    return out


def arch_of_space(spec: Any, d: dict[str, Any]) -> Any:
    """An arch dict read with the arch class of its space's family (MobileNet `Arch`, ResNet50's own)."""
    return family_of(spec).arch_from_dict(d)


def from_ours(d: dict[str, Any]) -> Subnet:
    if d.get("version", 1) != 1:
        raise FormatError(f"subnet file version {d.get('version')} is newer than this ofa-deploy understands (1)")
    if "space" not in d or "arch" not in d:
        raise FormatError("ofa-deploy subnet file lacks 'space' or 'arch'")
    spec = spec_from_dict(d["space"])
    return Subnet(spec, arch_of_space(spec, d["arch"]), dict(d.get("meta") or {}), "json")


# ---- official arch dict ----------------------------------------------------------------------
def to_official_arch(sub: Subnet) -> dict[str, Any]:
    """The official arch dict of a subnet of any family."""
    return family_of(sub.spec).to_official_arch(sub.arch)


def mobilenet_official_arch(a: Arch) -> dict[str, Any]:
    return {"ks": list(a.ks), "e": list(a.e), "d": list(a.d), "image_size": a.r}


def from_official_arch(d: dict[str, Any], spec: Any = None) -> Subnet:
    """The official `{ks, e, d, image_size}` dict (or the tutorial's `{..., r: [r]}`). Without
    `spec`, the released space of the kind whose gene counts it has (20 kernels: MobileNetV3 w1.2,
    21: ProxylessNAS w1.3)."""
    arch = Arch.from_dict(d)
    if spec is None:
        spec = space_of_genes(arch)
    return Subnet(spec, arch, {}, "official")


def space_of_genes(arch: Arch) -> SpaceSpec:
    """The released space of the MobileNet-family kind whose gene counts `arch` has."""
    for kind in kinds():
        spec = SpaceSpec(width_mult=kind.default_width, kind=kind.name)
        if len(arch.ks) == spec.n_blocks and len(arch.d) == spec.n_stages:
            return spec
    sizes = ", ".join(f"{SpaceSpec(kind=k.name).n_blocks} for {k.title}" for k in kinds())
    raise FormatError(f"arch dict with {len(arch.ks)} kernel sizes and {len(arch.d)} depths matches no OFA "
                      f"space ({sizes})")


def _official_arch_dict(d: dict[str, Any], spec: Any) -> Subnet | None:
    """An official arch dict of the first family that recognises it (MobileNet's `ks, e, d`,
    ResNet50's `d, e, w`), in the space that family gives it (`spec`, when given, is the
    supernet's), or None."""
    for family in families():
        if family.is_arch_dict(d):
            arch = family.arch_from_dict(d)
            return Subnet(family.official_arch_space(arch, spec), arch, {}, "official")
    return None


# ---- official net.config ---------------------------------------------------------------------
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


def to_net_config(sub: Subnet, dropout_rate: float = 0, legacy: bool = False) -> dict[str, Any]:
    """The official `net.config` of the extracted subnet, written by its family (current upstream
    naming; `legacy`: the released files' naming where the family has one)."""
    return family_of(sub.spec).write_net_config(sub.spec, sub.arch, dropout_rate, legacy)


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


def from_net_config(cfg: dict[str, Any], image_size: int | None = None, spec: Any = None) -> Subnet:
    """Read an official `net.config` (legacy `MobileInvertedResidualBlock` or current `ResidualBlock`)
    of any registered kind (`MobileNetV3`, `ProxylessNASNets`, `ResNets`).

    The space is inferred from the channel widths, then every layer's in/out channels are checked
    against it: a file whose blocks do not chain would otherwise be read as some other subnet.
    `spec`: the space of the supernet the net is used with, when known. A net of another kind is
    refused for that reason; a family that cannot infer its space from the widths alone (ResNet50,
    whose stage widths a supernet may scale) reads the net against it."""
    kind = family_of_net(cfg.get("name")) if isinstance(cfg.get("name"), str) else None
    if kind is None:
        known = ", ".join(repr(k.net_name) for k in families())
        raise FormatError(f"net.config describes a {cfg.get('name')!r} network; supported: {known} (OFA subnets)")
    if spec is not None and getattr(spec, "kind", kind.name) != kind.name:
        raise FormatError(f"this net.config is a {kind.net_name} subnet (space kind {kind.name}), but the supernet's "
                          f"space is {spec.describe()} (kind {spec.kind}); give the supernet the subnet belongs to")
    spec, arch, meta = kind.read_net_config(cfg, image_size, spec)
    return Subnet(spec, arch, meta, "net-config")


def read_mobilenet_net_config(cfg: dict[str, Any], image_size: int | None, kind: str) -> Subnet:
    """A net.config of a MobileNet-family kind, its space inferred from the channel widths."""
    try:
        return _from_net_config(cfg, image_size, kind)
    except OfaDeployError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        what = f"missing field {e}" if isinstance(e, KeyError) else f"malformed value ({e})"
        raise FormatError(f"net.config has a {what}; is it an official OFA net.config?") from None


def _from_net_config(cfg: dict[str, Any], image_size: int | None, kind: str) -> Subnet:
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
    return Subnet(spec, arch, meta, "net-config")


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


# ---- MMRazor subnet YAML -----------------------------------------------------------------
def to_mmrazor(sub: Subnet) -> dict[str, Any]:
    spec, arch = sub.spec, sub.arch
    if not family_of(spec).has_mmrazor:
        raise FormatError(f"MMRazor has no subnet format for {family_of(spec).title}; choose json, yaml, official "
                          "or net-config")
    md = spec.max_depth
    out: dict[str, Any] = {
        "backbone.first_channels": {"chosen": spec.first_conv_width},
        "backbone.last_channels": {"chosen": spec.last_channel},
        "backbone.layers.1.0.expand_ratio": {"chosen": 1},
        "backbone.layers.1.0.kernel_size": {"chosen": 3},
        "backbone.layers.1.depth": {"chosen": 1},
        "backbone.layers.1.out_channels": {"chosen": spec.first_block_width},
    }
    for s in range(spec.n_stages):
        layer = f"backbone.layers.{s + 2}"
        for j in range(md):
            i = s * md + j
            out[f"{layer}.{j}.expand_ratio"] = {"chosen": arch.e[i]}
            if spec.stage_se[s]:
                out[f"{layer}.{j}.expand_ratio_se"] = {"chosen": arch.e[i]}
            out[f"{layer}.{j}.kernel_size"] = {"chosen": arch.ks[i]}
        out[f"{layer}.depth"] = {"chosen": arch.d[s]}
        out[f"{layer}.out_channels"] = {"chosen": spec.stage_widths[s]}
    out["input_shape"] = {"chosen": [arch.r, arch.r]}
    return out


def from_mmrazor(d: dict[str, Any], n_classes: int = 1000) -> Subnet:
    """Read an MMRazor OFA subnet YAML; entries of blocks beyond a stage's depth are ignored."""

    def chosen(key: str) -> Any:
        if key not in d:
            raise FormatError(f"MMRazor subnet lacks {key!r}")
        v = d[key]
        return v.get("chosen") if isinstance(v, dict) else v

    try:
        first = int(chosen("backbone.first_channels"))
        last = int(chosen("backbone.last_channels"))
        n_stages = 5
        widths = [int(chosen(f"backbone.layers.{s + 2}.out_channels")) for s in range(n_stages)]
        depths = [int(chosen(f"backbone.layers.{s + 2}.depth")) for s in range(n_stages)]
        shape = chosen("input_shape")
        r = int(shape[0] if isinstance(shape, (list, tuple)) else shape)
    except (TypeError, ValueError) as e:
        raise FormatError(f"MMRazor subnet has a malformed value: {e}") from None
    spec = infer_space(first, widths, None, last, n_classes)
    ks, es = [], []
    for s in range(n_stages):
        for j in range(spec.max_depth):
            if j < depths[s]:
                ks.append(int(chosen(f"backbone.layers.{s + 2}.{j}.kernel_size")))
                es.append(int(chosen(f"backbone.layers.{s + 2}.{j}.expand_ratio")))
            else:
                ks.append(spec.ks_list[0])
                es.append(spec.expand_list[0])
    arch = Arch(tuple(ks), tuple(es), tuple(depths), r)
    return Subnet(spec, arch, {}, "mmrazor")


# ---- detection, loading and saving -------------------------------------------------------
def parse_subnet(data: Any, image_size: int | None = None, spec: Any = None) -> Subnet:
    """Turn parsed JSON/YAML content into a `Subnet`, whatever its format."""
    if not isinstance(data, dict):
        raise FormatError("a subnet file must hold a mapping (JSON object / YAML dict)")
    if data.get("format") == OUR_FORMAT:
        return from_ours(data)
    if (isinstance(data.get("name"), str) and family_of_net(data["name"]) is not None) or "blocks" in data:
        return from_net_config(data, image_size, spec)
    if any(str(k).startswith("backbone.") for k in data):
        return from_mmrazor(data)
    official = _official_arch_dict(data, spec)
    if official is not None:
        return official
    raise FormatError(
        "unrecognised subnet format: expected an ofa-deploy subnet file, an official arch dict "
        "(ks/e/d/image_size), an official net.config or an MMRazor subnet YAML"
    )


def read_structured(path: str | os.PathLike) -> Any:
    p = Path(path)
    if not p.exists():
        raise FormatError(f"{p}: no such file")
    if p.is_dir():
        if (p / "net.config").exists():
            return read_structured(p / "net.config")
        raise FormatError(f"{p} is a folder; give a subnet file (or a folder with a net.config)")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"{p}: cannot read as text ({e})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise FormatError(f"{p}: neither valid JSON nor YAML ({str(e).splitlines()[0]})") from None


def load_subnet(path: str | os.PathLike, image_size: int | None = None,
                spec: Any = None) -> Subnet:
    """Read a subnet file in any supported format. A net.config takes its resolution from the
    `run.config` beside it unless `image_size` is given. `spec`: the space of a format that names
    none (the official arch dict), i.e. the supernet's it is used with; without it such a dict is
    taken to be of the w1.2 space, as the official tutorial's are."""
    checks.integer(image_size, "--resolution", 8, checks.MAX_RESOLUTION, optional=True)
    p = Path(path)
    if p.is_dir():
        p = p / "net.config"
    data = read_structured(p)
    if image_size is None and isinstance(data, dict) and "blocks" in data:
        run_cfg = p.parent / "run.config"
        if run_cfg.exists():
            rc = read_structured(run_cfg)
            if isinstance(rc, dict) and "image_size" in rc:
                image_size = int(rc["image_size"])
    try:
        sub = parse_subnet(data, image_size, spec)
    except OfaDeployError as e:
        raise type(e)(f"{p}: {e}") from None
    sub.validate(check_resolution=sub.source_format in ("json", "official"))
    return sub


def subnet_document(sub: Subnet, fmt: str) -> Any:
    if fmt in ("json", "yaml"):
        return to_ours(sub)
    if fmt == "official":
        return to_official_arch(sub)
    if fmt == "net-config":
        return to_net_config(sub)
    if fmt == "mmrazor":
        return to_mmrazor(sub)
    raise FormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def dump_subnet(sub: Subnet, fmt: str) -> str:
    doc = subnet_document(sub, fmt)
    if fmt in ("yaml", "mmrazor"):
        return yaml.safe_dump(doc, sort_keys=fmt == "mmrazor", default_flow_style=None)
    return json.dumps(doc, indent=2) + "\n"


def save_run_config(net_config_path: str | os.PathLike, image_size: int) -> Path | None:
    """Write the official `run.config` beside a written `net.config`: it carries the input size that
    reading the net.config back takes (`load_subnet`). One already there gets this `image_size` and
    keeps its other fields (the official one also holds the training settings); left as it was, the
    new net.config would be read back at the old resolution. One that cannot be read is replaced.
    Returns the file written (None: the file is not named net.config, nothing written)."""
    p = Path(net_config_path)
    if p.name != "net.config":
        return None
    run_cfg = p.parent / "run.config"
    settings: dict[str, Any] = {}
    if run_cfg.is_file():
        try:
            old = read_structured(run_cfg)
        except FormatError:
            old = None
        settings = old if isinstance(old, dict) else {}
    atomic_write_text(run_cfg, json.dumps({**settings, "image_size": int(image_size)}, indent=4) + "\n")
    return run_cfg


def save_subnet(sub: Subnet, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write atomically; the format follows the suffix (.yaml/.yml -> yaml) unless given."""
    p = Path(path)
    if fmt is None:
        fmt = "yaml" if p.suffix in (".yaml", ".yml") else "json"
    text = dump_subnet(sub, fmt)
    atomic_write_text(p, text)
    return p
