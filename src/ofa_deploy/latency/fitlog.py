"""The fit stage's checkpoint: whole-subnet timings kept as they are measured.

`profile --method fit` times `--subnets` whole subnets per resolution (minutes on a slow device)
before it fits the rows. Those timings are appended here one line per subnet, chunk by chunk
(`incontext.time_subnets`), so that an interrupted fit resumes with the chunks already timed
instead of timing them all again. The file is an append-only row file (`rowfile`: a torn last
line is cut) in the table folder, written under the table's lock; its first line records what the
timings depend on (resolution, statistic, protocol), and a file made with other settings is
discarded. It is removed once the resolution's rows and metadata are written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..fsio import append_text
from ..rowfile import read_complete
from ..space import FamilyArch


def arch_text(arch: FamilyArch) -> str:
    return json.dumps(arch.to_dict(), sort_keys=True)


class FitCheckpoint:
    """Timings of resolution `r`'s fit subnets in `folder`, keyed by the subnet (`arch_text`)."""

    def __init__(self, folder: str | Path, r: int, identity: dict[str, Any]):
        self.path = Path(folder) / f".fit-r{int(r)}.partial.jsonl"
        self.identity = json.loads(json.dumps({"r": int(r), **identity}, default=str))  # as read back
        self.done = self._read()

    def _read(self) -> dict[str, float]:
        raw, _ = read_complete(self.path, "cut")
        lines = raw.decode("utf-8", errors="replace").splitlines()
        done: dict[str, float] = {}
        try:
            if not lines or json.loads(lines[0]) != {"identity": self.identity}:
                self.discard()
                return {}
            for line in lines[1:]:
                rec = json.loads(line)
                done[str(rec["arch"])] = float(rec["ms"])
        except (ValueError, KeyError, TypeError):
            pass  # a damaged line: what came before it is kept, the rest is timed again
        return done

    def get(self, arch: FamilyArch) -> float | None:
        return self.done.get(arch_text(arch))

    def add(self, timed: list[tuple[FamilyArch, float]]) -> None:
        """Append one chunk's timings (after the chunk ended: its subnets are timed together)."""
        with open(self.path, "a") as f:
            text = "" if f.tell() else json.dumps({"identity": self.identity}) + "\n"
            text += "".join(json.dumps({"arch": arch_text(a), "ms": ms}) + "\n" for a, ms in timed)
            append_text(f, text, self.path, fsync=True)
        self.done.update((arch_text(a), ms) for a, ms in timed)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


__all__ = ["FitCheckpoint", "arch_text"]
