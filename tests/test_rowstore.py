"""`rowfile.RowStore`: the one append-only row file of latency tables and accuracy datasets.

Duplicates, repair, the locked append (two real processes), the torn tail, and byte
compatibility with the files shipped in the repository (tables and the demo dataset)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

from ofa_deploy.errors import BusyError, FormatError, LatencyTableError
from ofa_deploy.latency.rows import COLUMNS, LEGACY_COLUMNS, Row, RowWriter, row_store
from ofa_deploy.latency.table import LatencyTable, read_rows, rows_csv
from ofa_deploy.predictor.datafile import format_row, load_accuracy_dataset, repair_dataset, rows_store
from ofa_deploy.rowfile import RowFormat, RowStore, TornTail, csv_line

REPO = Path(__file__).resolve().parents[1]
SHIPPED_TABLES = sorted((REPO / "latency_tables").glob("*/*/table.csv")) + \
    sorted((REPO / "src" / "ofa_deploy" / "_data").rglob("table.csv"))
SHIPPED_DATASET = REPO / "src" / "ofa_deploy" / "_data" / "demo-fmnist" / "accuracy_dataset"


def _row(key: str, r: int = 160, mean: float = 0.5, method: str = "isolated") -> Row:
    return Row(key, r, 10, mean, mean, 0.01, mean * 0.9, mean * 1.1, method, 0)


def _table_file(folder: Path, *lines: str, header: tuple[str, ...] = COLUMNS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "table.csv"
    p.write_text(",".join(header) + "\n" + "".join(lines))
    return p


# ---- a format of the test's own: what the store does with any kind of row ----------------------------
def _toy_format() -> RowFormat[tuple[str, int]]:
    def parse(fields: list[str], header: tuple[str, ...], path: Path, n: int) -> tuple[str, int] | None:
        if not fields:
            return None
        if len(fields) != 2:
            raise ValueError(f"{path}, line {n}: {len(fields)} fields")
        return fields[0], int(fields[1])

    return RowFormat(headers=(("name", "value"),), key=lambda row: row[0], parse=parse,
                     format=lambda row, header: [row[0], str(row[1])],
                     bad_header=lambda path, header, raw: ValueError(f"{path}: header {raw!r}"))


def test_text_round_trips_and_finds_duplicates(tmp_path):
    store = RowStore(tmp_path / "rows.csv", _toy_format())
    rows = [("a", 1), ("b", 2), ("a", 3), ("c, quoted", 4), ("b", 2)]
    text = store.text(rows)
    assert text == 'name,value\na,1\nb,2\na,3\n"c, quoted",4\nb,2\n'  # csv quoting where a field needs it
    assert store.parse(text) == rows
    assert store.parse("") == [] and store.parse("name,value\n\n") == []  # a blank line is the format's to pass over
    assert store.duplicates(rows) == [("a", 3), ("b", 2)]
    with pytest.raises(ValueError, match="header 'key,value'"):
        store.parse("key,value\na,1\n")


def test_torn_tail_is_skipped_cut_or_an_error(tmp_path):
    store = RowStore(tmp_path / "rows.csv", _toy_format())
    store.path.write_text("name,value\na,1\nb,2\nc,")
    before = store.path.read_bytes()
    assert store.read("skip") == ([("a", 1), ("b", 2)], b"c,")
    assert store.path.read_bytes() == before  # a reader without the lock leaves the file alone
    with pytest.raises(TornTail) as e:
        store.read("error")
    assert e.value.tail == b"c,"
    assert store.read("cut") == ([("a", 1), ("b", 2)], b"c,")
    assert store.path.read_text() == "name,value\na,1\nb,2\n"
    with closing(store.appender()) as w:  # after the cut a new row starts on its own line
        w.write(("c", 3))
    assert store.read("error") == ([("a", 1), ("b", 2), ("c", 3)], b"")
    assert RowStore(tmp_path / "absent.csv", _toy_format()).read("error") == ([], b"")


def test_repair_keeps_the_first_of_every_key_and_reports_the_rest(tmp_path):
    store = RowStore(tmp_path / "rows.csv", _toy_format())
    store.path.write_text("name,value\na,1\nb,2\na,1\nb,5\nc,3\nd")
    r = store.repair(lambda first, later: first == later)
    assert (r.kept, r.identical, r.conflicts, r.torn) == ([("a", 1), ("b", 2), ("c", 3)], 1, [(("b", 2), ("b", 5))],
                                                          b"d")
    assert store.path.read_text() == "name,value\na,1\nb,2\nc,3\n"
    again = store.repair(lambda first, later: first == later)
    assert (again.identical, again.conflicts, again.torn, again.changed) == (0, [], b"", False)
    assert not list(tmp_path.glob(".*lock*"))  # the writer lock is released


def test_latency_repair_through_the_store_rewrites_legacy_tables_in_the_current_columns(tmp_path):
    a, b = _row("Conv_a"), _row("Conv_b")
    legacy = [",".join(x.to_csv(LEGACY_COLUMNS)) + "\n" for x in (a, b, a)]
    p = _table_file(tmp_path / "t", *legacy, header=LEGACY_COLUMNS)
    r = row_store(p).repair(lambda x, y: x.to_csv() == y.to_csv())
    assert r.identical == 1 and len(r.kept) == 2
    assert p.read_text() == rows_csv([a, b])  # as `lut repair` always did: the current header
    assert read_rows(p) == [a, b]


def test_locked_append_from_two_processes(tmp_path):
    """A second process cannot append while the first holds the table's appender (BusyError naming
    its PID); once the first closes, the second appends after the first's rows, nothing lost."""
    folder = tmp_path / "t"
    folder.mkdir()
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from contextlib import closing
        from pathlib import Path
        from ofa_deploy.latency.rows import Row, RowWriter
        with closing(RowWriter(Path({str(folder)!r}))) as w:
            w.write(Row("Conv_first", 160, 10, 0.5, 0.5, 0.01, 0.45, 0.55))
            print("holding", flush=True)
            sys.stdin.readline()
            w.write(Row("Conv_second", 160, 10, 0.5, 0.5, 0.01, 0.45, 0.55))
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ})
    try:
        assert child.stdout.readline().strip() == "holding"
        with pytest.raises(BusyError, match=f"PID {child.pid}"):
            RowWriter(folder)
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
    with closing(RowWriter(folder)) as w:
        w.write(_row("Conv_third"))
    assert [r.key for r in read_rows(folder / "table.csv")] == ["Conv_first", "Conv_second", "Conv_third"]


def test_two_processes_taking_turns_append_every_row_once(tmp_path):
    """Two writers that each take the appender per row (retrying while the other holds it) leave
    every row once, each whole."""
    folder = tmp_path / "t"
    script = textwrap.dedent(f"""
        import sys, time
        from ofa_deploy.errors import BusyError
        from ofa_deploy.latency.rows import Row, RowWriter
        from pathlib import Path
        tag = sys.argv[1]
        for i in range(25):
            while True:
                try:
                    w = RowWriter(Path({str(folder)!r}))
                    break
                except BusyError:
                    time.sleep(0.001)
            try:
                w.write(Row(f"Conv_{{tag}}_{{i}}", 160, 10, 0.5, 0.5, 0.01, 0.45, 0.55))
            finally:
                w.close()
        """)
    folder.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", script, tag]) for tag in ("x", "y")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    rows = read_rows(folder / "table.csv")  # every line whole (a torn one is an error here), header once
    assert sorted(r.key for r in rows) == sorted(f"Conv_{t}_{i}" for t in "xy" for i in range(25))
    assert row_store(folder / "table.csv").duplicates(rows) == []


def test_appender_continues_a_legacy_table_in_its_own_columns_and_starts_a_new_one_with_the_header(tmp_path):
    p = _table_file(tmp_path / "old", ",".join(_row("Conv_a").to_csv(LEGACY_COLUMNS)) + "\n", header=LEGACY_COLUMNS)
    with closing(RowWriter(p.parent)) as w:
        assert w.columns == LEGACY_COLUMNS
        w.write(_row("Conv_b"))
    assert p.read_text().splitlines()[-1] == ",".join(_row("Conv_b").to_csv(LEGACY_COLUMNS))
    new = tmp_path / "new"
    new.mkdir()
    (new / "table.csv").write_text("")  # an empty file counts as new
    with closing(RowWriter(new)) as w:
        assert w.columns == COLUMNS
        w.write(_row("Conv_c"))
    assert (new / "table.csv").read_text() == rows_csv([_row("Conv_c")])


def test_the_latency_formats_errors_are_its_own(tmp_path):
    p = _table_file(tmp_path / "t", "Conv_a,160,10,abc,,,,,isolated,0\n")
    with pytest.raises(LatencyTableError, match=r"line 2: non-numeric"):
        read_rows(p)
    p.write_bytes(b"key,resolution\xff\n")
    with pytest.raises(LatencyTableError, match="not a text file"):
        read_rows(p)
    p.write_text("k,r\n")
    with pytest.raises(LatencyTableError, match="header"):
        read_rows(p)
    p.write_text(rows_csv([_row("Conv_a")]) + "Conv_b,16")
    with pytest.raises(LatencyTableError, match="half-written"):
        read_rows(p)


# ---- compatibility with the files in the repository -------------------------------------------------
@pytest.mark.parametrize("path", SHIPPED_TABLES, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_tables_read_and_write_back_byte_for_byte(path):
    rows = read_rows(path)
    assert rows and row_store(path).duplicates(rows) == []
    assert rows_csv(rows).encode() == path.read_bytes()
    table = LatencyTable.load(path.parent)
    assert len(table) == len(rows)


def test_shipped_accuracy_dataset_reads_and_writes_back_byte_for_byte():
    if not (SHIPPED_DATASET / "rows.csv").is_file():
        pytest.skip(f"{SHIPPED_DATASET} is not in this checkout")
    ds = load_accuracy_dataset(SHIPPED_DATASET)
    store = rows_store(SHIPPED_DATASET, ds.spec)
    rows, tail = store.read("error")
    assert tail == b"" and len(rows) == len(ds) and store.duplicates(rows) == []
    assert store.text(rows).encode() == (SHIPPED_DATASET / "rows.csv").read_bytes()


def test_dataset_rows_are_the_hand_written_lines_of_before(tmp_path):
    """`rows.csv` lines were joined by hand (`,` between fields, space-separated arch values, 6 and 3
    decimals); through the store's CSV writer they are the same bytes."""
    from ofa_deploy.space import Arch

    arch = Arch(ks=(3, 5, 7), e=(3, 4, 6), d=(2,), r=24)
    row = {"index": 7, "arch": arch, "correct": 33, "images": 64, "accuracy": 33 / 64, "seconds": 1.23456}
    assert format_row(row) == "7,3 5 7,3 4 6,2,24,33,64,0.515625,1.235\n"
    assert csv_line(["7", "3 5 7"]) == "7,3 5 7\n"


def test_dataset_repair_through_the_store(tmp_path):
    if not (SHIPPED_DATASET / "rows.csv").is_file():
        pytest.skip(f"{SHIPPED_DATASET} is not in this checkout")
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "meta.json").write_bytes((SHIPPED_DATASET / "meta.json").read_bytes())
    lines = (SHIPPED_DATASET / "rows.csv").read_text().splitlines(keepends=True)
    header, first, second = lines[0], lines[1], lines[2]
    changed = second.split(",")
    changed[5] = str(int(changed[5]) - 1)  # the same subnet, another result: a conflict
    (folder / "rows.csv").write_text(header + first + second + first + ",".join(changed) + "9,")
    r = repair_dataset(folder)
    assert (r.kept, r.identical, r.conflicts, r.torn) == (2, 1, [int(second.split(",")[0])], b"9,")
    assert (folder / "rows.csv").read_text() == header + first + second
    with pytest.raises(FormatError, match="line 2 is malformed"):
        (folder / "rows.csv").write_text(header + "1,2,3\n")
        load_accuracy_dataset(folder)


def test_a_table_without_the_space_still_parses_nan_statistics(tmp_path):
    p = _table_file(tmp_path / "t", "Conv_a,160,3,0.5,,,,,isolated,0\n")
    (row,) = read_rows(p)
    assert row.mean == 0.5 and math.isnan(row.median) and rows_csv([row]) == p.read_text()
