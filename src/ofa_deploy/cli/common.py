"""Shared CLI helpers: the error boundary, the help's tidying, Enum choices, old option names (what
is printed, the consoles and strict JSON included, is `views.console`'s).

The boundary: Typer runs in its normal (standalone) mode, so usage errors (unknown command or
option, a missing value, text given to a number, a value outside a choice) are Typer's own
message and exit code 2. The library's typed errors (`OfaDeployError`) are caught in one place,
`OfaGroup.invoke`, and become one red line on stderr and exit code 2. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from ..errors import OfaDeployError
from ..views.console import error_line, note


def fail(message: str, code: int = 2) -> NoReturn:
    """One red line on stderr, then exit with `code` (2: bad input)."""
    error_line(message)
    raise typer.Exit(code)


class OfaGroup(TyperGroup):
    """Typer's group, plus the one place where library errors become one red line and exit 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except OfaDeployError as e:
            error_line(str(e))
            raise typer.Exit(2) from None
        except OSError as e:  # a full disk met by a writer outside fsio: the same one line (`fsio.space_error`)
            from ..fsio import is_space_error, space_error

            if not is_space_error(e):
                raise
            error_line(str(space_error(e)))
            raise typer.Exit(2) from None
        except typer.BadParameter as e:  # usage errors stay Typer's (exit 2), in our words
            e.message = _choice_message(e.message)
            raise
        except Exception as e:
            if type(e).__name__ == "NoSuchOption" and getattr(e, "possibilities", None):
                hidden = _hidden_options(getattr(e, "ctx", None))
                e.possibilities = [p for p in e.possibilities if p not in hidden]
            raise


def _choice_message(message: str) -> str:
    """`Value error, 'pdf' is not one of 'onnx', 'tflite'.` -> `'pdf' is not one of: onnx, tflite`."""
    import re

    m = re.fullmatch(r"(?:Value error, )?(.+?) is not one of (.+?)\.?", message.strip())
    if not m:
        return message
    choices = ", ".join(c.strip().strip("'") for c in m.group(2).split(","))
    return f"{m.group(1)} is not one of: {choices}"


def _hidden_options(ctx: Any) -> set[str]:
    """The names of a command's hidden options (old names kept for a release): never suggested."""
    params = getattr(getattr(ctx, "command", None), "params", None) or []
    return {o for p in params if getattr(p, "hidden", False) for o in (*p.opts, *getattr(p, "secondary_opts", []))}


def tidy_help(command: Any) -> Any:
    """Flags show no type in the help (Typer writes `--version <bool>`): an empty metavar, recursively."""
    for p in getattr(command, "params", []):
        if getattr(p, "is_flag", False) and p.metavar is None:
            p.metavar = ""
    original = command.get_help_option

    def help_option(ctx: Any) -> Any:  # --help is made on demand, per command
        opt = original(ctx)
        if opt is not None and opt.metavar is None:
            opt.metavar = ""
        return opt

    command.get_help_option = help_option
    for sub in (getattr(command, "commands", None) or {}).values():
        tidy_help(sub)
    return command


def choices(name: str, values: Iterable[str]) -> type[enum.Enum]:
    """A str Enum of `values` (Typer shows and checks them): choices come from the library's tuples."""
    return enum.Enum(name, [(v.replace("-", "_"), v) for v in values], type=str)  # type: ignore[return-value]


def value(choice: Any) -> Any:
    """The plain string of an Enum choice (None stays None)."""
    return choice.value if isinstance(choice, enum.Enum) else choice


def merge_alias(new: Any, old: Any, new_name: str, old_name: str, default: Any = None) -> Any:
    """The value of an option that has an old, hidden name kept for one release (both None: `default`)."""
    if old is None:
        return default if new is None else new
    if new is not None and new != old:
        fail(f"{old_name} is the old name of {new_name}; give only {new_name}")
    note(f"{old_name} is deprecated: use {new_name}")
    return old
