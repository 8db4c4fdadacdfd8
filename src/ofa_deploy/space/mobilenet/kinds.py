"""The kinds of the MobileNet family of search spaces: each OFA supernet of it declared once, as data.

Why data: MobileNetV3 and ProxylessNAS differ in widths, strides, activations, SE, the fixed
layers around the elastic blocks and the key strings of their latency tables, and nothing else.
The MobileNet family's code (`SpaceSpec`, its costs, encodings, latency keys, supernet, formats)
reads those differences from the `SpaceKind` of a `SpaceSpec` (`spec.kind_info`), so adding a kind
of this family is declaring one `SpaceKind` and calling `space.register_kind` (`space.mobilenet.kind`,
which also registers its `SpaceFamily`), never adding `if kind == ...` branches. Families of
another structure (ResNet50) are not declared here: see `space.family`.

A kind of the MobileNet family is: a stem conv, one fixed MBConv block (expand 1, kernel 3),
`len(stage_strides)` stages of elastic MBConv blocks (a stage's depth is elastic over the space's
`depth_list`, or fixed by `fixed_depths`; kernel and expand stay elastic in every block), then the
head convs (`HeadConv`, some before the global pooling, some after) and a linear classifier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...errors import SpaceError
from ..registry import Registry

ACTIVATIONS = ("relu", "relu6", "h_swish")


@dataclass(frozen=True)
class HeadConv:
    """A 1x1 conv of the head (between the last stage and the classifier), as upstream names it."""

    name: str            # module name in the supernet and its checkpoints (`final_expand_layer`)
    base_width: int      # output width before `make_divisible(base * width_mult)`
    use_bn: bool
    act: str
    after_pool: bool     # applied on the pooled 1x1 map (MobileNetV3's feature mix) or before it
    table_name: str      # its latency-table key type (`Conv_1`, `Conv_2`)


def _mbv3_block_key(side: int, cin: int, out_side: int, cout: int, mid: int, expand: int, kernel: int,
                    stride: int, shortcut: bool, se: bool, act: str) -> str:
    """`MBv3LatencyTable` key: `expand` is the middle width, plus `se` and `hs` flags."""
    return (f"expanded_conv-input:{side}x{side}x{cin}-output:{out_side}x{out_side}x{cout}"
            f"-expand:{mid}-kernel:{kernel}-stride:{stride}-idskip:{int(bool(shortcut))}"
            f"-se:{int(bool(se))}-hs:{int(act == 'h_swish')}")


def _proxyless_block_key(side: int, cin: int, out_side: int, cout: int, mid: int, expand: int, kernel: int,
                         stride: int, shortcut: bool, se: bool, act: str) -> str:
    """`ProxylessNASLatencyTable` key: `expand` is the expand ratio; no SE / activation fields."""
    return (f"expanded_conv-input:{side}x{side}x{cin}-output:{out_side}x{out_side}x{cout}"
            f"-expand:{int(expand)}-kernel:{kernel}-stride:{stride}-idskip:{int(bool(shortcut))}")


@dataclass(frozen=True)
class SpaceKind:
    """One family of OFA supernets: its structure, declared once (see the module docstring)."""

    name: str                              # `kind` in space dicts and files: "ofa_mbv3"
    title: str                             # for messages: "OFA-MobileNetV3"
    net_name: str                          # official net.config / static class name: "MobileNetV3"
    tag_prefix: str                        # prefix of latency-table folder names ("" for MobileNetV3)
    base_first_conv: int
    base_first_block: int
    base_stage_widths: tuple[int, ...]
    stage_strides: tuple[int, ...]
    stage_acts: tuple[str, ...]
    stage_se: tuple[bool, ...]
    fixed_depths: tuple[int | None, ...]   # per stage: None = elastic over depth_list, n = always n blocks
    stem_act: str
    first_block_act: str
    first_block_shortcut: bool             # identity shortcut on the first block when its in == out width
    head: tuple[HeadConv, ...]
    bn_eps: float                          # BatchNorm eps of the official constructor
    pool_key: bool                         # the pooling has a latency key of its own (else it is in Logits)
    block_key_fn: Callable[..., str]       # latency-table key of an MBConv block
    default_width: float                   # width of the released supernet (official arch dicts name none)
    known_widths: tuple[float, ...]        # width multipliers tried first when reading widths back
    has_mmrazor: bool = False              # MMRazor publishes subnet files of this kind
    released: tuple[tuple[str, float], ...] = ()  # (name, width) of released supernets, for `--supernet NAME`
    legacy_block_names: tuple[str, str] = ("MobileInvertedResidualBlock", "MBInvertedConvLayer")

    def __post_init__(self) -> None:
        n = len(self.base_stage_widths)
        for field_name in ("stage_strides", "stage_acts", "stage_se", "fixed_depths"):
            if len(getattr(self, field_name)) != n:
                raise SpaceError(f"space kind {self.name}: {field_name} needs one value per stage ({n})")
        bad = [a for a in (*self.stage_acts, self.stem_act, self.first_block_act, *(h.act for h in self.head))
               if a not in ACTIVATIONS]
        if bad:
            raise SpaceError(f"space kind {self.name}: unknown activation {bad[0]!r} (known: {ACTIVATIONS})")
        if not self.head:
            raise SpaceError(f"space kind {self.name}: at least one head conv is needed")

    @property
    def n_stages(self) -> int:
        return len(self.base_stage_widths)

    @property
    def elastic_stages(self) -> tuple[int, ...]:
        return tuple(s for s, f in enumerate(self.fixed_depths) if f is None)

    @property
    def module_names(self) -> frozenset[str]:
        """Top-level module names of the supernet's state dict (how a checkpoint's kind is recognised)."""
        return frozenset({"first_conv", "blocks", "classifier", *(h.name for h in self.head)})

    def block_key(self, side: int, cin: int, out_side: int, cout: int, mid: int, expand: int, kernel: int,
                  stride: int, shortcut: bool, se: bool, act: str) -> str:
        return self.block_key_fn(side, cin, out_side, cout, mid, expand, kernel, stride, shortcut, se, act)


OFA_MBV3 = SpaceKind(
    name="ofa_mbv3", title="OFA-MobileNetV3", net_name="MobileNetV3", tag_prefix="",
    base_first_conv=16, base_first_block=16, base_stage_widths=(24, 40, 80, 112, 160),
    stage_strides=(2, 2, 2, 1, 2),
    stage_acts=("relu", "relu", "h_swish", "h_swish", "h_swish"),
    stage_se=(False, True, False, True, True),
    fixed_depths=(None,) * 5,
    stem_act="h_swish", first_block_act="relu", first_block_shortcut=True,
    head=(HeadConv("final_expand_layer", 960, True, "h_swish", False, "Conv_1"),
          HeadConv("feature_mix_layer", 1280, False, "h_swish", True, "Conv_2")),
    bn_eps=1e-5, pool_key=True, block_key_fn=_mbv3_block_key,
    default_width=1.2, known_widths=(1.0, 1.2), has_mmrazor=True,
    released=(("ofa-mbv3-w1.2", 1.2), ("ofa-mbv3-w1.0", 1.0)),
)

OFA_PROXYLESS = SpaceKind(
    name="ofa_proxyless", title="OFA-ProxylessNAS", net_name="ProxylessNASNets", tag_prefix="proxyless",
    base_first_conv=32, base_first_block=16, base_stage_widths=(24, 40, 80, 96, 192, 320),
    stage_strides=(2, 2, 2, 1, 2, 1),
    stage_acts=("relu6",) * 6,
    stage_se=(False,) * 6,
    fixed_depths=(None, None, None, None, None, 1),
    stem_act="relu6", first_block_act="relu6", first_block_shortcut=False,
    head=(HeadConv("feature_mix_layer", 1280, True, "relu6", False, "Conv_1"),),
    bn_eps=1e-3, pool_key=False, block_key_fn=_proxyless_block_key,
    default_width=1.3, known_widths=(1.0, 1.3),
    released=(("ofa-proxyless-w1.3", 1.3),),
)

_KINDS: Registry[SpaceKind] = Registry()


def declare_kind(kind: SpaceKind) -> SpaceKind:
    """Add a kind's data to the registry of kinds (its `name` is what space dicts' `kind` field
    says). Its family object is registered by `space.register_kind` (`kind.register_kind`), which
    calls this: call that one."""
    return _KINDS.register(kind)


def get_kind(name: str) -> SpaceKind:
    return _KINDS.get(name)


def kinds() -> tuple[SpaceKind, ...]:
    return _KINDS.all()


def kind_of_name(name: str) -> SpaceKind | None:
    """The declared kind called `name` (None when the MobileNet family has no such kind)."""
    return _KINDS.get(name) if name in _KINDS else None


def kind_of_net(net_name: str) -> SpaceKind | None:
    """The kind whose official net.config `name` is `net_name` (None when no kind has it)."""
    return _KINDS.find(lambda k: k.net_name == net_name)


declare_kind(OFA_MBV3)
declare_kind(OFA_PROXYLESS)

__all__ = ["OFA_MBV3", "OFA_PROXYLESS", "HeadConv", "SpaceKind", "declare_kind", "get_kind", "kind_of_net", "kinds"]
