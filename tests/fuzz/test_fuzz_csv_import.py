"""Hostile usage CSVs: every data row is either imported or reported, and nothing raises."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.csv_import import import_usage_csv
from tests.factories import AccountFactory
from tests.fuzz.conftest import FUZZ

COLUMNS = ["day", "active_users", "events", "features_used", "domain", "account_id"]
cells = st.one_of(
    st.dates().map(str),
    st.integers(-(10**25), 10**25).map(str),
    st.floats().map(str),
    st.sampled_from(["", " ", "acme.example", "NaN", "null", "2026-02-30", "1e9", "=cmd()"]),
    st.text(max_size=20),
)


@st.composite
def csv_files(draw) -> tuple[str, int]:
    """A CSV text with some of the expected columns (and maybe others) and its data rows."""
    columns = draw(st.lists(st.sampled_from([*COLUMNS, "extra"]), min_size=1, unique=True))
    rows = draw(st.lists(st.lists(cells, min_size=len(columns), max_size=len(columns)), max_size=8))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue(), len(rows)


def import_text(content: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "usage.csv"
        path.write_text(content)
        return import_usage_csv(path)


@pytest.fixture
def acme(app) -> None:
    AccountFactory(domain="acme.example")


@settings(FUZZ, max_examples=max(FUZZ.max_examples // 4, 10))  # pandas and a DB write each
@given(file=csv_files())
def test_every_row_of_any_csv_is_imported_or_reported(acme, file):
    content, rows = file
    report = import_text(content)
    if len(report.problems) == 1 and "missing column" in report.problems[0]:
        assert report.imported == 0  # the file is refused as a whole
    else:
        assert report.imported + len(report.problems) == rows


@pytest.mark.parametrize(
    "row",
    ["2026-01-05,inf,3,acme.example,", "2026-01-05,1,1e20,acme.example,",
     "2026-01-05,1,3000000000,acme.example,", "2026-01-05,1,1,,100000000000000000000",
     "2026-01-05,1,1,,-inf", "2026-01-05,1,1,,1.5"],
)  # fmt: skip
def test_non_finite_huge_or_fractional_numbers_are_reported_not_imported(acme, row):
    report = import_text(f"day,active_users,events,domain,account_id\n{row}\n")
    assert (report.imported, len(report.problems)) == (0, 1)
