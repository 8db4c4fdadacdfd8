"""Two processes that share the block-conversion cache convert each block once (`fsio.claimed`,
`devices.bundle.cached_conversion`): two profiles run at once (two phones, or a phone and a board, of
one space) split the `.tflite` conversions instead of both making every one, and both bundles come out
complete and the same."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ofa_deploy.fsio import claimed

REPO = Path(__file__).resolve().parents[1]

# One process's profile bundle: the first `n` blocks of the tests' small space at r=24, converted to
# .tflite through the shared cache; prints how many it converted and how many it found made.
BUNDLE = """
import json, sys, torch
sys.path.insert(0, {tests!r})
from support.spaces import PROFILE_SPEC
from ofa_deploy.nn import OFAMobileNetV3
from ofa_deploy.latency import resolution_keys
from ofa_deploy.devices.bundle import build_bundle
torch.manual_seed(0); torch.set_num_threads(1)
net = OFAMobileNetV3(PROFILE_SPEC).eval()
keys = resolution_keys(PROFILE_SPEC, 24).distinct()[:{n}]
b = build_bundle({{24: keys}}, PROFILE_SPEC, net, "tflite", sys.argv[1], cache=sys.argv[2])
print(json.dumps({{"converted": b.converted, "cached": b.cached,
                  "files": {{m.name: open(m.tflite_path, "rb").read().hex()[:64] for m in b.models.values()}}}}))
"""


def test_a_claim_is_held_by_one_holder_at_a_time(tmp_path):
    target = tmp_path / "entry.tflite"
    with claimed(target) as first:
        assert first and (tmp_path / "entry.tflite.claim").exists()
        with claimed(target, wait=False) as second:  # another open file: flock refuses it, as another process
            assert second is False
        got: list[float] = []

        def waiter() -> None:
            with claimed(target) as mine:
                got.append(time.monotonic() if mine else -1.0)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.3)
        assert not got  # still waiting for the first claim
        released = time.monotonic()
    t.join(10)
    assert got and got[0] >= released
    assert not (tmp_path / "entry.tflite.claim").exists()  # nothing left beside the cache entry


@pytest.mark.slow
def test_two_bundles_at_once_convert_each_block_once(tmp_path):
    pytest.importorskip("litert_torch")
    n = 4
    script = BUNDLE.format(tests=str(REPO / "tests"), n=n)
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / f"bundle{i}"), str(cache)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(r["converted"] for r in results) == n, results  # each block converted by one process only
    assert all(r["converted"] + r["cached"] == n for r in results)
    assert results[0]["files"] == results[1]["files"]  # both bundles whole, the same files
    assert len(list((cache / "tflite").glob("*.tflite"))) == n
    assert not list(cache.rglob("*.claim")) and not list(cache.rglob("*.tmp*"))
