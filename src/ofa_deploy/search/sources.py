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
from ..space import SpaceSpec, load_subnet, official_space
from ..space.checkpoint import CHECKPOINT_SUFFIXES, checkpoint_space

SPACE_NAMES = {"ofa-mbv3-w1.2": (1.2, 1000, "ofa_mbv3"), "ofa-mbv3-w1.0": (1.0, 1000, "ofa_mbv3"),
               "ofa-proxyless-w1.3": (1.3, 1000, "ofa_proxyless")}


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


def resolve_supernet(arg: str | os.PathLike | None, predictor: Predictor) -> tuple[SpaceSpec, str, dict[str, Any]]:
    """(space, label for messages, description). Default: the space the predictor was made for."""
    if arg is None:
        return predictor.spec, "the predictor's supernet", {"space": predictor.spec.to_dict(),
                                                           "from": "the predictor's space"}
    text = str(arg)
    if text in SPACE_NAMES:
        w, n, kind = SPACE_NAMES[text]
        spec = official_space(w, n, kind)
        return spec, f"the supernet {text}", {"name": text, "space": spec.to_dict()}
    p = Path(text)
    if not p.exists():
        raise FormatError(f"supernet {text!r}: no such file, and not a known space name "
                          f"({', '.join(SPACE_NAMES)})")
    if p.is_dir() and not (p / "net.config").is_file():
        raise FormatError(f"supernet {text!r} is a folder without a net.config; give a supernet checkpoint "
                          f"(.pt), a subnet file or a space name ({', '.join(SPACE_NAMES)})")
    if p.suffix in CHECKPOINT_SUFFIXES:
        spec = checkpoint_space(p, command="search")  # a fine-tuned subnet: refused, saying what to do
        return spec, f"the supernet {p.name}", {"path": str(p.resolve()), "checkpoint": str(p.resolve()),
                                               "space": spec.to_dict()}
    spec = load_subnet(p).spec
    return spec, f"the supernet {p.name}", {"path": str(p.resolve()), "space": spec.to_dict()}


def resolve_table(device: str | None, table: str | os.PathLike | None, spec: SpaceSpec) -> tuple[Any, dict[str, Any]]:
    """The latency table (`latency.resolve`: `--table`, else the user's or the shipped table of
    `--device` for this space) and its description; (None, {}) when neither is given."""
    from ..latency.resolve import resolve_table as resolve

    if device is None and table is None:
        return None, {}
    found = resolve(device, table, spec)
    return found.table, found.info()
