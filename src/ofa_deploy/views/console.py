"""The consoles every view prints to, the one-line forms (error, note, next step), the one table
style and strict JSON output."""

from __future__ import annotations

import enum
import json
import math
import sys
from collections.abc import Container, Iterable
from pathlib import Path
from typing import Any

from rich.console import Console


def _width(stream: Any) -> int | None:
    """Rich's width, except when the output is piped or logged: rich would then draw tables 80
    columns wide and clip their headers (`predi…`); wide enough for any of our tables instead
    (`$COLUMNS` still wins)."""
    import os

    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return None if tty or os.environ.get("COLUMNS") else 200


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))


def version_text() -> str:
    """`ofa-deploy <version>`: the installed distribution's, else the package's `__version__`."""
    from importlib import metadata

    try:
        version = metadata.version("ofa-deploy")
    except metadata.PackageNotFoundError:
        from .. import __version__ as version
    return f"ofa-deploy {version}"


def human(as_json: bool) -> Console:
    """Where progress and start lines go: stdout, or stderr when stdout carries the JSON document."""
    return err_console if as_json else console


def error_line(message: str) -> None:
    """The message as written (rich markup escaped: `pip install 'ofa-deploy[tflite]'` keeps `[tflite]`)."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def note(message: str) -> None:
    """One dim line on stderr: a default taken from an earlier step, said once."""
    from rich.markup import escape

    err_console.print(f"[dim]{escape(message)}[/]", highlight=False, soft_wrap=True)


def notes(lines: Iterable[str | None]) -> None:
    """`note` for each line given (None: nothing)."""
    for line in lines:
        if line:
            note(line)


def next_step(command: str, out: Console = console) -> None:
    """The command to run next (human output only: never printed in --json mode)."""
    out.print(f"next: [bold]{command}[/]", highlight=False, soft_wrap=True)


def rich_table(title: str, columns: Iterable[str], right: Container[str] | None = None) -> Any:
    """The one table style: a rich Table titled at the left, the `right` columns right-justified
    (None: all but the first)."""
    from rich.table import Table

    columns = list(columns)
    right = columns[1:] if right is None else right
    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col, justify="right" if col in right else "left")
    return t


def plain(o: Any) -> Any:
    """JSON values only: NaN and infinities become null, numpy values lists/numbers, paths strings,
    Enums their value, dataclass-like objects their fields. Keys become strings."""
    if isinstance(o, enum.Enum):
        return plain(o.value)
    if isinstance(o, bool) or o is None or isinstance(o, str):
        return o
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, int):
        return o
    if isinstance(o, dict):
        return {str(k): plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, set, frozenset)):
        return [plain(v) for v in o]
    if isinstance(o, Path) or hasattr(o, "__fspath__"):
        return str(o)
    if hasattr(o, "tolist"):  # numpy arrays and scalars
        return plain(o.tolist())
    if hasattr(o, "to_dict"):
        return plain(o.to_dict())
    if hasattr(o, "__dict__"):
        return plain(vars(o))
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def json_text(data: Any) -> str:
    """Strict JSON (RFC 8259: no NaN / Infinity tokens), indented."""
    return json.dumps(plain(data), indent=2, allow_nan=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json_text(data) + "\n")
