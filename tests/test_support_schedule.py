"""`support/schedule.py`: the files the workers get first are the longest, and nothing else moves."""

from __future__ import annotations

from types import SimpleNamespace

from support.schedule import FAST_FILE_SECONDS, FILE_SECONDS, lane_seconds, longest_first


def _items(*nodeids: str) -> list[SimpleNamespace]:
    return [SimpleNamespace(nodeid=n) for n in nodeids]


def test_longest_files_first_and_each_file_in_its_own_order():
    items = _items("tests/test_a.py::x", "tests/test_cli.py::one", "tests/test_board.py::b[1]", "tests/test_a.py::y",
                   "tests/test_cli.py::two", "tests/test_z.py::z", "tests/test_board.py::b[0]")
    got = [i.nodeid for i in longest_first(items)]
    assert got == ["tests/test_board.py::b[1]", "tests/test_board.py::b[0]", "tests/test_cli.py::one",
                   "tests/test_cli.py::two", "tests/test_a.py::x", "tests/test_a.py::y", "tests/test_z.py::z"]


def test_the_conftest_hook_orders_this_session(request):
    """The collected session itself starts with the longest listed file it holds, by its lane's times."""
    seconds = lane_seconds(request.session.items)
    files = [i.nodeid.split("::")[0].rsplit("/", 1)[-1] for i in request.session.items]
    listed = [f for f in files if f in seconds]
    assert listed == sorted(listed, key=lambda f: -seconds[f])
    assert files[:len(listed)] == listed


class _Item(SimpleNamespace):
    def get_closest_marker(self, name):
        return name if name in self.marks else None


def test_the_fast_lane_is_ordered_by_its_own_times():
    fast = [_Item(nodeid="tests/test_board.py::b", marks=()), _Item(nodeid="tests/test_cli.py::c", marks=())]
    assert lane_seconds(fast) is FAST_FILE_SECONDS
    assert [i.nodeid for i in longest_first(fast)] == ["tests/test_cli.py::c", "tests/test_board.py::b"]
    whole = [*fast, _Item(nodeid="tests/test_board.py::slow", marks=("slow",))]
    assert lane_seconds(whole) is FILE_SECONDS
    assert next(i.nodeid for i in longest_first(whole)) == "tests/test_board.py::b"
    assert lane_seconds(_items("tests/test_cli.py::c")) is FILE_SECONDS  # no markers known: the whole suite's
