"""The one bulk-write helper, on the database the run uses (SQLite, or PostgreSQL with
TEST_DATABASE_URL): inserts that skip conflicts, upserts, chunking, value types, `in_values`."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    event,
    select,
)

from cs_platform import bulk_writes
from cs_platform.bulk_writes import (
    JSONText,
    in_values,
    insert_ignoring_conflicts,
    is_postgres,
    upsert,
)
from cs_platform.extensions import db

# A table of its own (not in the app's metadata): one column of each type the callers write.
metadata = MetaData()
things = Table(
    "bulk_write_things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(40), nullable=False, unique=True),
    Column("label", Text),
    Column("amount", Numeric(12, 2)),
    Column("ratio", Float),
    Column("due", Date),
    Column("seen_at", DateTime),
    Column("flag", Boolean),
    Column("data", JSON),
    Column("state", String(10), nullable=False, default="new"),
)
WHEN = dt.datetime(2026, 3, 4, 5, 6, 7, 890000)


@pytest.fixture(scope="module")
def table(app) -> Iterator[Table]:
    metadata.create_all(db.engine)
    yield things
    db.session.remove()
    metadata.drop_all(db.engine)


@pytest.fixture(autouse=True)
def empty(table) -> Iterator[None]:
    yield
    db.session.rollback()
    db.session.execute(table.delete())
    db.session.commit()


def row(code: str, **values) -> dict:
    return {
        "code": code,
        "label": f"label {code}",
        "amount": Decimal("10.50"),
        "ratio": 0.25,
        "due": dt.date(2026, 5, 1),
        "seen_at": WHEN,
        "flag": True,
        "data": {"code": code, "tags": ["a", "b"], "n": 1},
    } | values


def stored() -> dict[str, dict]:
    return {r["code"]: dict(r) for r in db.session.execute(select(things)).mappings()}


@pytest.fixture
def inserts() -> Iterator[list[str]]:
    """The INSERT statements sent to the database while the test runs."""
    sent: list[str] = []

    def record(_conn, _cursor, statement: str, *_rest) -> None:
        if "INSERT INTO" in statement.upper():
            sent.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def test_insert_new_rows_returns_their_primary_keys_and_stores_every_type(table) -> None:
    text = 'O\'Brien "quoted" \\ back, ünïcödé ✓, new\nline, tab\t, {json: [1]}'
    rows = [
        row("a", label=text),
        row(
            "b",
            label=None,
            amount=None,
            ratio=None,
            due=None,
            seen_at=None,
            flag=None,
            data=[1, 2.5, None, "x"],
        ),
        row("c", amount=Decimal("-12345678.99"), flag=False, data={"nested": {"deep": [{}]}}),
    ]
    inserted = insert_ignoring_conflicts(table, rows, ["code"])
    db.session.commit()

    assert len(inserted) == 3
    assert sorted(r[0] for r in inserted) == sorted(r["id"] for r in stored().values())
    got = stored()
    assert got["a"]["label"] == text
    assert got["a"]["amount"] == Decimal("10.50")
    assert got["a"]["ratio"] == 0.25
    assert got["a"]["due"] == dt.date(2026, 5, 1)
    assert got["a"]["seen_at"] == WHEN
    assert got["a"]["flag"] is True
    assert got["a"]["data"] == {"code": "a", "tags": ["a", "b"], "n": 1}
    assert got["a"]["state"] == "new"  # the Python-side default, on both databases
    assert {k: v for k, v in got["b"].items() if k not in ("id", "code", "data", "state")} == {
        "label": None,
        "amount": None,
        "ratio": None,
        "due": None,
        "seen_at": None,
        "flag": None,
    }
    assert got["b"]["data"] == [1, 2.5, None, "x"]
    assert got["c"]["amount"] == Decimal("-12345678.99")
    assert got["c"]["flag"] is False
    assert got["c"]["data"] == {"nested": {"deep": [{}]}}


def test_insert_ignores_conflicting_rows_and_returns_only_those_inserted(table) -> None:
    insert_ignoring_conflicts(table, [row("a"), row("b")], ["code"])
    db.session.commit()

    inserted = insert_ignoring_conflicts(
        table,
        [row("a", label="changed"), row("c"), row("b"), row("d"), row("c", label="twice")],
        ["code"],
        returning=("code", "state"),
    )
    db.session.commit()

    assert sorted(inserted) == [("c", "new"), ("d", "new")]
    got = stored()
    assert got["a"]["label"] == "label a"  # kept as stored
    assert got["c"]["label"] == "label c"  # the first of the call wins
    assert len(got) == 4


def test_upsert_updates_the_named_columns_and_leaves_the_others(table) -> None:
    assert upsert(table, [row("a"), row("b")], ["code"], ["label", "data"]) == 2
    db.session.commit()

    changed = [
        row("a", label="new label", amount=Decimal("99.00"), data={"v": 2}, state="old"),
        row("c", label="fresh", state="new"),
    ]
    assert upsert(table, changed, ["code"], ["label", "data"]) == 1
    db.session.commit()

    got = stored()
    assert got["a"]["label"] == "new label"
    assert got["a"]["data"] == {"v": 2}
    assert got["a"]["amount"] == Decimal("10.50")  # not named: left as it was
    assert got["a"]["state"] == "new"
    assert got["b"]["label"] == "label b"
    assert got["c"]["label"] == "fresh"


def test_upsert_without_update_columns_keeps_stored_rows(table) -> None:
    assert upsert(table, [row("a")], ["code"]) == 1
    db.session.commit()

    assert upsert(table, [row("a", label="ignored"), row("b")], ["code"]) == 1
    assert upsert(table, [row("a", label="ignored")], ["code"], []) == 0
    db.session.commit()

    got = stored()
    assert got["a"]["label"] == "label a"
    assert set(got) == {"a", "b"}


def test_nothing_to_write_sends_nothing(table, inserts) -> None:
    assert insert_ignoring_conflicts(table, [], ["code"]) == []
    assert upsert(table, [], ["code"], ["label"]) == 0
    assert upsert(table, iter(()), ["code"]) == 0
    assert inserts == []


def test_rows_past_the_chunk_size_go_in_chunks(table, inserts, monkeypatch) -> None:
    monkeypatch.setattr(bulk_writes, "CHUNK", 3)

    inserted = insert_ignoring_conflicts(table, (row(f"r{n}") for n in range(7)), ["code"])
    assert len(inserted) == 7
    if is_postgres():
        assert len(inserts) == 3  # one statement per chunk: 3 + 3 + 1
    inserts.clear()

    rows = [row(f"r{n}", label="again") for n in range(5, 12)]  # 2 stored, 5 new
    assert upsert(table, rows, ["code"], ["label"]) == 5
    if is_postgres():
        assert len(inserts) == 1  # COPY into a temporary table, then one INSERT ... SELECT
    db.session.commit()

    got = stored()
    assert len(got) == 12
    assert got["r4"]["label"] == "label r4"
    assert all(got[f"r{n}"]["label"] == "again" for n in range(5, 12))


@pytest.mark.parametrize("chunk", [2, 2000], ids=["copied", "one statement"])
def test_upsert_stores_every_type_and_json_text_past_and_below_the_chunk_size(
    table, monkeypatch, chunk
) -> None:
    monkeypatch.setattr(bulk_writes, "CHUNK", chunk)
    text = 'O\'Brien "quoted" \\ back, ünïcödé ✓, new\nline, tab\t, \\N, {json: [1]}'
    upsert(table, [row("a", label="old"), row("z")], ["code"], ["label", "data"])
    rows = [
        row("a", label=text, data=JSONText('{"curve": [[0, 1.0], [3, 0.9876]]}')),
        row("b", label=None, amount=None, due=None, seen_at=None, flag=None, data=None),
        row("c", amount=Decimal("-12345678.99"), ratio=float("nan"), flag=False),
    ]

    assert upsert(table, rows, ["code"], ["label", "data"]) == 2
    db.session.commit()

    got = stored()
    assert got["a"]["label"] == text
    assert got["a"]["data"] == {"curve": [[0, 1.0], [3, 0.9876]]}
    assert got["a"]["amount"] == Decimal("10.50")  # not named: left as it was
    assert (got["b"]["label"], got["b"]["amount"], got["b"]["due"]) == (None, None, None)
    assert (got["b"]["seen_at"], got["b"]["flag"], got["b"]["data"]) == (None, None, None)
    assert got["c"]["amount"] == Decimal("-12345678.99")
    assert got["c"]["seen_at"] == WHEN
    assert got["c"]["due"] == dt.date(2026, 5, 1)
    assert got["c"]["flag"] is False
    assert got["c"]["state"] == "new"
    assert got["c"]["data"] == {"code": "c", "tags": ["a", "b"], "n": 1}
    assert got["c"]["ratio"] is None if not is_postgres() else math.isnan(got["c"]["ratio"])
    assert set(got) == {"a", "b", "c", "z"}


def test_non_finite_floats_are_written(table) -> None:
    insert_ignoring_conflicts(
        table, [row("nan", ratio=float("nan")), row("inf", ratio=float("inf"))], ["code"]
    )
    db.session.commit()

    got = stored()
    if is_postgres():
        assert math.isnan(got["nan"]["ratio"])
        assert got["inf"]["ratio"] == math.inf
    else:  # SQLite stores NaN as NULL
        assert got["nan"]["ratio"] is None
        assert got["inf"]["ratio"] == math.inf


def test_in_values_with_no_values_matches_nothing(table) -> None:
    insert_ignoring_conflicts(table, [row("a")], ["code"])

    assert db.session.scalars(select(things.c.code).where(in_values(things.c.code, []))).all() == []
    assert db.session.scalars(select(things.c.id).where(in_values(things.c.id, set()))).all() == []


def test_in_values_with_many_values(table) -> None:
    insert_ignoring_conflicts(table, [row(f"r{n}") for n in range(50)], ["code"])
    wanted = {f"r{n}" for n in range(0, 50, 7)} | {f"missing{n}" for n in range(5000)}

    found = db.session.scalars(select(things.c.code).where(in_values(things.c.code, wanted)))

    assert sorted(found) == sorted(f"r{n}" for n in range(0, 50, 7))
