"""Where the conformance data lives (../shared beside the repository, or $OFA_DEPLOY_SHARED), and a
skip with a clear reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("OFA_DEPLOY_SHARED", REPO.parent / "shared"))
GOLDEN = SHARED / "golden" / "ofa_mbv3_w1.2"
REFERENCE = SHARED / "reference"
NOTE10 = REFERENCE / "ofa" / "note10"
OFFICIAL_PTH = REFERENCE / "ofa" / "acc_predictor.pth"
CASES = GOLDEN / "cases.json"


def need_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the conformance data lives in ../shared beside the repository")
    return path
