"""`ofa-deploy subnet convert`: a subnet file read in any supported format and, with an output
path, written in another (an official `net.config` with its `run.config` beside it)."""

from __future__ import annotations

import os

from .space.formats import Subnet, load_subnet, save_run_config, save_subnet


def convert_subnet(file: str | os.PathLike, fmt: str, out: str | os.PathLike | None = None,
                   image_size: int | None = None, force: bool = False) -> Subnet:
    """The subnet of `file` (`image_size`: the resolution of a net.config without run.config); with
    `out`, written there as `fmt` (an output of another kind is refused unless `force`)."""
    sub = load_subnet(file, image_size=image_size)
    if out is None:
        return sub
    from .outputs import check_output

    check_output(out, "subnet", force)
    save_subnet(sub, out, fmt)
    if fmt == "net-config":
        save_run_config(out, sub.arch.r)  # a converted-again net.config is read back at its new resolution
    return sub
