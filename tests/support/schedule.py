"""The order in which the test files reach the xdist workers: the longest first.

`make test` runs `--dist loadfile --no-loadscope-reorder`: each file stays on one worker and the files are
handed out in collection order, as workers free up. pytest-xdist's own order (files with the most tests
first) put the two longest files, the emulated board and the adb loop (3 and 12 tests, ~7 min each), last:
one worker then ran them alone at the end. Longest-first (the LPT rule of scheduling) starts them at once,
one per worker, and the short files fill in around them.

`FILE_SECONDS`: each file's seconds in a whole `make test` (setup + call + teardown, every test), idle,
on this 2-core machine (2026-12-06, 20:45 UTC run; refresh with `python benchmarks/bench_test_lanes.py --lane all`).
Files not listed (under 5 s) keep their collection order after the listed ones; a test's order inside
its file never changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

FILE_SECONDS = {
    "test_board.py": 396,
    "test_remote_adb.py": 225,
    "test_wheel.py": 175,
    "test_int8_table.py": 84,
    "test_export.py": 64,
    "test_finetune.py": 50,
    "test_remote_ssh.py": 45,
    "test_export_official.py": 37,
    "test_faults.py": 33,
    "test_train.py": 30,
    "test_readme.py": 27,
    "test_cli.py": 26,
    "test_writers.py": 23,
    "test_report.py": 23,
    "test_int8_stability.py": 23,
    "test_resnet50_flow.py": 20,
    "test_imagenet_train.py": 19,
    "test_conversion_claims.py": 18,
    "test_latency_profile.py": 17,
    "test_shipped.py": 15,
    "test_predictor_shard.py": 13,
    "test_latency_incontext.py": 12,
    "test_verify.py": 12,
    "test_honest_budget.py": 11,
    "test_proxyless_flow.py": 11,
    "test_imagenet_wire.py": 11,
    "test_values.py": 10,
    "test_hostile_files.py": 10,
    "test_terminal.py": 9,
    "test_paths.py": 9,
    "test_nn_golden.py": 9,
    "test_device_paths.py": 8,
    "test_trust.py": 8,
    "test_predictor_dataset.py": 8,
    "test_int8_recipe.py": 8,
    "test_proxyless_golden.py": 7,
    "test_imagenet_golden.py": 5,
}


# The same for `make test-fast`'s own selection (everything but `slow` and `board`): its files weigh otherwise (the
# board's and the wheel's have no test there), 2026-12-07 00:18 UTC idle run, files of 3 s or more (refresh with
# `python benchmarks/bench_test_lanes.py`, whose default lane is this one).
FAST_FILE_SECONDS = {
    "test_cli.py": 28,
    "test_finetune.py": 25,
    "test_writers.py": 23,
    "test_faults.py": 22,
    "test_remote_ssh.py": 21,
    "test_remote_adb.py": 14,
    "test_resnet50_flow.py": 14,
    "test_verify.py": 13,
    "test_train.py": 12,
    "test_latency_profile.py": 12,
    "test_latency_incontext.py": 11,
    "test_values.py": 10,
    "test_honest_budget.py": 10,
    "test_readme.py": 10,
    "test_export.py": 10,
    "test_device_paths.py": 9,
    "test_hostile_files.py": 9,
    "test_imagenet_wire.py": 9,
    "test_terminal.py": 9,
    "test_nn_golden.py": 8,
    "test_paths.py": 8,
    "test_trust.py": 7,
    "test_predictor_dataset.py": 7,
    "test_proxyless_golden.py": 6,
    "test_int8_table.py": 6,
    "test_int8_recipe.py": 6,
    "test_imagenet_golden.py": 6,
    "test_shipped.py": 5,
    "test_import_layers.py": 5,
    "test_resnet50_golden.py": 4,
    "test_api.py": 3,
}
LANE_MARKERS = ("slow", "board")  # what `make test-fast` leaves out


def lane_seconds(items: Sequence[Any]) -> dict[str, int]:
    """The file times of the lane `items` make up: the fast lane's when every item is a pytest item without a
    `slow` or `board` marker, the whole suite's otherwise."""
    def fast(item: Any) -> bool:
        marker = getattr(item, "get_closest_marker", None)
        return marker is not None and all(marker(m) is None for m in LANE_MARKERS)

    return FAST_FILE_SECONDS if items and all(fast(i) for i in items) else FILE_SECONDS


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1]


def longest_first(items: Sequence[Any]) -> list[Any]:
    """`items` (anything with a `nodeid`) with the files in decreasing seconds of their lane (`lane_seconds`),
    each file's items together and in their own order; unlisted files after, in their first-seen order."""
    seconds = lane_seconds(items)
    first_seen: dict[str, int] = {}
    for item in items:
        first_seen.setdefault(file_of(item.nodeid), len(first_seen))
    return sorted(items, key=lambda item: (-seconds.get(file_of(item.nodeid), 0),
                                           first_seen[file_of(item.nodeid)]))
