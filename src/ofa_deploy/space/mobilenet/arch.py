"""`Arch`: one subnet of a MobileNet-family space, as plain data.

A kernel size and an expand ratio per elastic block slot (MobileNetV3: 20, 4 per stage;
ProxylessNAS: 21, 4 per stage plus the fixed last block), one depth per stage and an input
resolution. Slots beyond a stage's depth are kept (the official arch dict keeps them) but
carry no meaning; `canonical()` sets them to the smallest choice so that equal subnets compare equal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ...errors import SpaceError
from ..arch import arch_dict_fields, middle_choice
from ..spec import middle_channels
from .spec import SpaceSpec


@dataclass(frozen=True)
class Arch:
    ks: tuple[int, ...]
    e: tuple[int, ...]
    d: tuple[int, ...]
    r: int

    def __post_init__(self) -> None:
        for name in ("ks", "e", "d"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):
                raise SpaceError(f"arch field {name!r} must be a list of integers, got {value!r}")
            try:
                object.__setattr__(self, name, tuple(_as_int(v, name) for v in value))
            except (TypeError, ValueError):
                raise SpaceError(f"arch field {name!r} must hold integers, got {list(value)!r}") from None
        object.__setattr__(self, "r", _as_int(self.r, "r"))

    # ---- validation -----------------------------------------------------------------------
    def validate(self, spec: SpaceSpec, check_resolution: bool = True) -> Arch:
        """Raise `SpaceError` naming the first problem; return self when the arch is in the space."""
        nb, ns = spec.n_blocks, spec.n_stages
        if len(self.ks) != nb:
            raise SpaceError(f"ks has {len(self.ks)} kernel sizes; this space needs {nb} (one per block slot)")
        if len(self.e) != nb:
            raise SpaceError(f"e has {len(self.e)} expand ratios; this space needs {nb} (one per block slot)")
        if len(self.d) != ns:
            raise SpaceError(f"d has {len(self.d)} depths; this space needs {ns} (one per stage)")
        for s, depth in enumerate(self.d):
            if depth not in spec.stage_depth_choices[s]:
                choices = spec.stage_depth_choices[s]
                what = f"the space's depths {list(choices)}" if len(choices) > 1 else f"its fixed depth {choices[0]}"
                raise SpaceError(f"stage {s + 1} depth {depth} is not {what}")
        for i in self.active_slots(spec):
            if self.ks[i] not in spec.ks_list:
                raise SpaceError(
                    f"block {i} kernel size {self.ks[i]} is not in the space's kernel sizes {list(spec.ks_list)}"
                )
            if self.e[i] not in spec.expand_list:
                raise SpaceError(
                    f"block {i} expand ratio {self.e[i]} is not in the space's expand ratios {list(spec.expand_list)}"
                )
        if check_resolution and self.r not in spec.resolutions:
            raise SpaceError(
                f"resolution {self.r} is not in the space's resolutions "
                f"({spec.resolutions[0]}..{spec.resolutions[-1]}: {list(spec.resolutions)})"
            )
        if self.r < 8:
            raise SpaceError(f"resolution {self.r} is too small (minimum 8 px)")
        return self

    # ---- structure ------------------------------------------------------------------------
    def active_slots(self, spec: SpaceSpec) -> Iterator[int]:
        """Indices of the block slots that are part of the subnet."""
        for s, depth in enumerate(self.d):
            for j in range(depth):
                yield spec.slot(s, j)

    def blocks(self, spec: SpaceSpec) -> Iterator[dict[str, Any]]:
        """The active elastic blocks in order, with every shape they need (read from `spec`)."""
        for s, depth in enumerate(self.d):
            for j in range(depth):
                i = spec.slot(s, j)
                cin = spec.block_in_width(s, j)
                yield {
                    "slot": i,
                    "stage": s,
                    "index_in_stage": j,
                    "in_channels": cin,
                    "out_channels": spec.stage_widths[s],
                    "mid_channels": middle_channels(cin, self.e[i]),
                    "kernel_size": self.ks[i],
                    "expand_ratio": self.e[i],
                    "stride": spec.block_stride(s, j),
                    "shortcut": spec.has_shortcut(s, j),
                    "act": spec.stage_acts[s],
                    "se": spec.stage_se[s],
                }

    def canonical(self, spec: SpaceSpec) -> Arch:
        """The same subnet with unused slots set to the smallest choices (for comparisons and files)."""
        active = set(self.active_slots(spec))
        ks = tuple(k if i in active else spec.ks_list[0] for i, k in enumerate(self.ks))
        e = tuple(x if i in active else spec.expand_list[0] for i, x in enumerate(self.e))
        return Arch(ks, e, self.d, self.r)

    def with_resolution(self, r: int) -> Arch:
        return Arch(self.ks, self.e, self.d, r)

    # ---- plain dicts ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"ks": list(self.ks), "e": list(self.e), "d": list(self.d), "r": self.r}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Arch:
        """Read `{ks, e, d, r}`; also accepts the official `image_size` and the tutorial's `r: [r]`."""
        (ks, e, depths), r = arch_dict_fields(d, ("ks", "e", "d"), "r",
                                              "arch has no resolution: give 'r' (or the official 'image_size')")
        return cls(tuple(ks), tuple(e), tuple(depths), r)

    def short(self) -> str:
        """`d44434@32#3fa1`: depths and resolution, then a digest of the kernels and expands of the
        active slots, so that two subnets of one search never share a label."""
        return f"d{''.join(map(str, self.d))}@{self.r}#{self.digest()}"

    def digest(self) -> str:
        """4 hex digits of the kernels and expand ratios that matter (the active slots, when every
        stage has as many slots as `ks` divided by the stages; else all of them)."""
        import hashlib

        n = len(self.ks) // len(self.d) if self.d and len(self.ks) % len(self.d) == 0 else 0
        slots = [s * n + j for s, depth in enumerate(self.d) for j in range(depth)] if n else range(len(self.ks))
        text = ",".join(f"{self.ks[i]}/{self.e[i]}" for i in slots)
        return hashlib.blake2s(text.encode(), digest_size=2).hexdigest()


def _as_int(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise SpaceError(f"arch field {name!r} must hold integers, got {v!r}")
    try:
        f = float(v)
    except ValueError:
        raise SpaceError(f"arch field {name!r} must hold integers, got {v!r}") from None
    if f != int(f):
        raise SpaceError(f"arch field {name!r} must hold integers, got {v!r}")
    return int(f)


def largest_mobilenet_arch(spec: SpaceSpec, r: int | None = None) -> Arch:
    nb = spec.n_blocks
    return Arch((spec.ks_list[-1],) * nb, (spec.expand_list[-1],) * nb,
                tuple(c[-1] for c in spec.stage_depth_choices), r if r is not None else spec.resolutions[-1])


def smallest_mobilenet_arch(spec: SpaceSpec, r: int | None = None) -> Arch:
    nb = spec.n_blocks
    return Arch((spec.ks_list[0],) * nb, (spec.expand_list[0],) * nb,
                tuple(c[0] for c in spec.stage_depth_choices), r if r is not None else spec.resolutions[0])


def middle_mobilenet_arch(spec: SpaceSpec, r: int | None = None) -> Arch:
    nb, mid = spec.n_blocks, middle_choice
    return Arch((mid(spec.ks_list),) * nb, (mid(spec.expand_list),) * nb,
                tuple(mid(c) for c in spec.stage_depth_choices), r if r is not None else mid(spec.resolutions))


__all__ = ["Arch", "largest_mobilenet_arch", "middle_mobilenet_arch", "smallest_mobilenet_arch"]
