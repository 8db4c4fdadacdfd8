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
from ..errors import FormatError, OfaDeployError
from ..fsio import atomic_write_text
from .family import FamilyArch, FamilySpec, families, family_of, family_of_net, spec_from_dict

OUR_FORMAT = "ofa-deploy-subnet"
FORMATS = ("json", "yaml", "official", "net-config", "mmrazor")


@dataclass
class Subnet:
    """A subnet as stored in a file: the space it belongs to, the arch, and metadata."""

    spec: FamilySpec   # the space, of its family's spec class (`SpaceSpec`, `ResNet50Spec`)
    arch: FamilyArch   # its family's arch class (`Arch`, `ResNetArch`)
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


def from_official_arch(d: dict[str, Any], spec: Any = None) -> Subnet:
    """The official arch dict of any family (MobileNet's `{ks, e, d, image_size}` or the tutorial's
    `{..., r: [r]}`, ResNet50's `{d, e, w, image_size}`). Without `spec`, the released space its
    family gives it (MobileNet: the kind whose gene counts it has, 20 kernels: MobileNetV3 w1.2,
    21: ProxylessNAS w1.3)."""
    official = _official_arch_dict(d, spec)
    if official is None:
        raise FormatError("not an official arch dict: expected ks/e/d/image_size (MobileNet family) "
                          "or d/e/w/image_size (ResNet50)")
    return official


def _official_arch_dict(d: dict[str, Any], spec: Any) -> Subnet | None:
    """An official arch dict of the first family that recognises it (MobileNet's `ks, e, d`,
    ResNet50's `d, e, w`), in the space that family gives it (`spec`, when given, is the
    supernet's), or None."""
    for family in families():
        if family.is_arch_dict(d):
            arch = family.arch_from_dict(d)
            return Subnet(family.official_arch_space(arch, spec), arch, {}, "official")
    return None


# ---- official net.config (each family writes and reads its own) ----------------------------
def to_net_config(sub: Subnet, dropout_rate: float = 0, legacy: bool = False) -> dict[str, Any]:
    """The official `net.config` of the extracted subnet, written by its family (current upstream
    naming; `legacy`: the released files' naming where the family has one)."""
    return family_of(sub.spec).write_net_config(sub.spec, sub.arch, dropout_rate, legacy)


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


# ---- MMRazor subnet YAML (the format of the families that have one) ---------------------
def to_mmrazor(sub: Subnet) -> dict[str, Any]:
    family = family_of(sub.spec)
    if family.mmrazor is None:
        raise FormatError(f"MMRazor has no subnet format for {family.title}; choose json, yaml, official "
                          "or net-config")
    return family.mmrazor.write(sub.spec, sub.arch)


def from_mmrazor(d: dict[str, Any], n_classes: int = 1000) -> Subnet:
    """Read an MMRazor OFA subnet YAML, by the first family with an MMRazor format (MobileNetV3's)."""
    family = next((f for f in families() if f.mmrazor is not None), None)
    if family is None:
        raise FormatError("no registered space family reads MMRazor subnet files")
    spec, arch = family.mmrazor.read(d, n_classes)
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
