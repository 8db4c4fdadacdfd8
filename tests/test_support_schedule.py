"""`support/schedule.py`: the files the workers get first are the longest, and nothing else moves."""

from __future__ import annotations

from types import SimpleNamespace

from support.schedule import FILE_SECONDS, longest_first


def _items(*nodeids: str) -> list[SimpleNamespace]:
    return [SimpleNamespace(nodeid=n) for n in nodeids]


def test_longest_files_first_and_each_file_in_its_own_order():
    items = _items("tests/test_a.py::x", "tests/test_cli.py::one", "tests/test_board.py::b[1]", "tests/test_a.py::y",
                   "tests/test_cli.py::two", "tests/test_z.py::z", "tests/test_board.py::b[0]")
    got = [i.nodeid for i in longest_first(items)]
    assert got == ["tests/test_board.py::b[1]", "tests/test_board.py::b[0]", "tests/test_cli.py::one",
                   "tests/test_cli.py::two", "tests/test_a.py::x", "tests/test_a.py::y", "tests/test_z.py::z"]


def test_the_conftest_hook_orders_this_session(request):
    """The collected session itself starts with the longest listed file it holds."""
    files = [i.nodeid.split("::")[0].rsplit("/", 1)[-1] for i in request.session.items]
    listed = [f for f in files if f in FILE_SECONDS]
    assert listed == sorted(listed, key=lambda f: -FILE_SECONDS[f])
    assert files[:len(listed)] == listed
