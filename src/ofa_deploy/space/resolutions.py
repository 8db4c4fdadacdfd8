"""The resolution grammar of the command line: `160,224`, `128..224`, `128..224:16`, `all`.

Why it lives here and checks strictly: a selection that silently comes out empty (`32..24`, `,`)
made `profile` finish with 0 rows and exit 0, and a step of 0 crashed. Every entry must be a
resolution of the space; so must a range's two ends, in increasing order (a range then selects
at least its first end). `lo..hi` takes the space's resolutions between the ends; `lo..hi:step` those of them
at `lo + k * step`.
"""

from __future__ import annotations

from ..errors import BadValueError
from .family import FamilySpec
from .spec import _range_text

GRAMMAR = "write 160,224 or 128..224 or 128..224:16 or all"


def parse_resolutions(text: str | None, spec: FamilySpec, option: str = "--resolutions") -> list[int]:
    """The sorted, distinct resolutions `text` selects from `spec`; None: the space's largest."""
    if text is None:
        return [spec.resolutions[-1]]
    stripped = text.strip()
    if not stripped:
        raise BadValueError(f"{option} is empty: {GRAMMAR}")
    if stripped.lower() == "all":
        return list(spec.resolutions)
    space = f"the space's resolutions are {_range_text(spec.resolutions)}"
    out: set[int] = set()
    for part in stripped.split(","):
        part = part.strip()
        if not part:
            raise BadValueError(f"{option} {text!r} has an empty entry: {GRAMMAR}")
        if ".." not in part:
            r = _integer(part, text, option)
            if r not in spec.resolutions:
                raise BadValueError(f"{option}: resolution {r} is not in the space ({space})")
            out.add(r)
            continue
        lo_s, rest = part.split("..", 1)
        hi_s, colon, step_s = rest.partition(":")
        lo, hi = _integer(lo_s, text, option), _integer(hi_s, text, option)
        step = _integer(step_s, text, option) if colon else None
        if lo > hi:
            raise BadValueError(f"{option}: range {part} runs backwards; write {hi}..{lo}"
                                + (f":{step_s.strip()}" if colon else ""))
        if step is not None and step < 1:
            raise BadValueError(f"{option}: the step of {part} must be a positive integer, got {step}")
        for end in (lo, hi):
            if end not in spec.resolutions:
                raise BadValueError(f"{option}: range {part} ends at {end}, which is not in the space ({space})")
        # lo is in the space, so a range always selects at least lo
        out.update(r for r in spec.resolutions if lo <= r <= hi and (step is None or (r - lo) % step == 0))
    return sorted(out)


def _integer(s: str, text: str, option: str) -> int:
    s = s.strip()
    try:
        return int(s)
    except ValueError:
        raise BadValueError(f"{option}: {s!r} in {text!r} is not an integer: {GRAMMAR}") from None
