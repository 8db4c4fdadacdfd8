"""Resolve what a search reads: the supernet's space, the latency table, the accuracy predictor.

Why here and not in the CLI: the rules (which table a device name means, that a folder of
official `<r>_lookup_table.yaml` files is imported on the fly, what the default predictor is, how
a supernet's space is read without torch: `space.checkpoint`) are library behaviour that scripts
and the benchmark share. Each function returns the object and a small JSON description recorded in the subnet file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import FormatError
from ..predictor import Predictor, default_predictor_path
from ..space import FamilySpec, load_subnet
from ..space.checkpoint import CHECKPOINT_SUFFIXES, checkpoint_space
from ..space.family import released_spaces


def resolve_predictor(arg: str | os.PathLike | None) -> tuple[Predictor, dict[str, Any]]:
    if arg is None:
        p = default_predictor_path()
        if p is None:
            raise FormatError(
                "no accuracy predictor given, and none ships with this install; give --predictor P "
                "(import the official ImageNet one with `ofa-deploy predictor import acc_predictor.pth --out P`)"
            )
    else:
        p = Path(arg)
    pred = Predictor.load(p)
    info = {"path": str(Path(p).resolve()), "name": pred.meta.get("name", Path(p).stem), "model": pred.model.kind}
    if "sha256" in pred.meta:
        info["source_sha256"] = pred.meta["sha256"]
    return pred, info


def resolve_supernet(arg: str | os.PathLike | None, predictor: Predictor) -> tuple[FamilySpec, str, dict[str, Any]]:
    """(space, label for messages, description). Default: the space the predictor was made for."""
    if arg is None:
        return predictor.spec, "the predictor's supernet", {"space": predictor.spec.to_dict(),
                                                           "from": "the predictor's space"}
    text = str(arg)
    released = released_spaces()  # `ofa-mbv3-w1.2`, ...: each family names its released supernets
    if text in released:
        spec = released[text].released_space(text)
        return spec, f"the supernet {text}", {"name": text, "space": spec.to_dict()}
    p = Path(text)
    if not p.exists():
        raise FormatError(f"supernet {text!r}: no such file, and not a known space name "
                          f"({', '.join(released)})")
    if p.is_dir() and not (p / "net.config").is_file():
        raise FormatError(f"supernet {text!r} is a folder without a net.config; give a supernet checkpoint "
                          f"(.pt), a subnet file or a space name ({', '.join(released)})")
    if p.suffix in CHECKPOINT_SUFFIXES:
        spec = checkpoint_space(p, command="search")  # a fine-tuned subnet: refused, saying what to do
        return spec, f"the supernet {p.name}", {"path": str(p.resolve()), "checkpoint": str(p.resolve()),
                                               "space": spec.to_dict()}
    spec = load_subnet(p).spec
    return spec, f"the supernet {p.name}", {"path": str(p.resolve()), "space": spec.to_dict()}


def resolve_table(device: str | None, table: str | os.PathLike | None, spec: FamilySpec,
                  precision: str | None = None, table_given: bool = True) -> tuple[Any, dict[str, Any]]:
    """The latency table (`latency.resolve`: `--table`, else the user's or the shipped table of
    `--device` for this space and precision) and its description (with its `precision`); (None, {})
    when neither is given. `precision` None: `--precision` was not given, so a `--table` is taken
    as it is and a device's table is of the descriptor's precision (`default_precision`).
    `table_given` False: `table` is the last profile's folder, not the user's choice; it is used
    only when it is of that precision."""
    from ..latency.resolve import resolve_table as resolve
    from ..latency.table import read_metadata

    if device is None and table is None:
        return None, {}
    if table is not None and not table_given and precision is None and device is not None:
        precision = default_precision(device)
    if table is not None and not table_given and precision is not None \
            and str(read_metadata(Path(table)).get("precision") or "fp32") != precision:
        table = None  # the last profile measured the other precision: the device's table of this one
    if table is None and precision is None and device is not None:
        precision = default_precision(device)
    found = resolve(device, table, spec, precision)
    return found.table, found.info()


def passed_over(last_table: str | os.PathLike | None, table_info: dict[str, Any]) -> str | None:
    """A note when the last profile's table (`last_table`, not chosen by the user) was not the one
    used because it is of another precision; None otherwise."""
    from ..latency.table import read_metadata

    if last_table is None or not table_info or Path(table_info["path"]) == Path(last_table).resolve():
        return None
    other = str(read_metadata(Path(last_table)).get("precision") or "fp32")
    return (f"the last `ofa-deploy profile`'s table {last_table} is {other}; searched with the "
            f"{table_info.get('precision')} table {table_info['path']} (the device's precision; "
            f"give --precision {other} to use it)")


def default_precision(device: str) -> str | None:
    """The precision of the device's descriptor (`precision:`), the one its model will ship in;
    None for a device known by its tables only, or one whose precision no table is made in."""
    from ..devices import load_device
    from ..errors import DeviceError

    try:
        p = load_device(device).precision
    except DeviceError:
        return None
    return p if p in ("fp32", "int8") else None
