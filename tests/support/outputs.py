"""Checks of what a refused command leaves: every file's sha256 before and after, and the one
`error:` line with exit code 2."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative name -> sha256)."""
    return {str(p.relative_to(folder)): sha(p) for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def one_error_line(code: int, err: str, *needles: str) -> str:
    """Exit 2, one `error:` line, no traceback, containing every needle."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "Traceback" not in err
    text = " ".join(err.split())
    for n in needles:
        assert n in text, err
    return text
