"""The usage CSV import never loses a file: repeated rows, other encodings, empty and malformed
files each end in a clear message, through the real `integrations import-usage` command."""

from __future__ import annotations

import codecs
import datetime as dt
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select

from cs_platform.extensions import db
from integrations.csv_import import import_usage_csv
from integrations.models import UsageDaily
from tests.factories import AccountFactory

HEADER = "domain,account_id,day,active_users,events\n"
MARCH_1, MARCH_2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)


def usage_rows() -> list[tuple]:
    """(account_id, day, events) of every UsageDaily row, in order."""
    return db.session.execute(
        select(UsageDaily.account_id, UsageDaily.day, UsageDaily.events)
        .order_by(UsageDaily.account_id, UsageDaily.day)
    ).all()  # fmt: skip


def import_file(runner, path: Path, *options: str) -> Result:
    """Run the import command; it may fail with a message, never with a traceback."""
    result = runner.invoke(args=["integrations", "import-usage", str(path), *options])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def csv_file(tmp_path: Path, content: bytes | str) -> Path:
    path = tmp_path / "usage.csv"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_a_row_repeating_an_account_and_day_is_reported_and_the_first_is_kept(runner, tmp_path):
    acme = AccountFactory(domain="acme.example")
    path = csv_file(tmp_path, HEADER
        + f",{acme.id},2026-03-01,4,40\n"
        + f",{acme.id},2026-03-02,5,50\n"
        + "\n"
        + f",{acme.id},2026-03-01,9,99\n")  # fmt: skip

    result = import_file(runner, path)

    assert result.exit_code == 0, result.output
    assert (
        f"line 5: account {acme.id} on 2026-03-01 repeats line 2; line 2 was imported"
        in result.output
    )
    assert "imported 2 row(s), skipped 1" in result.output
    assert usage_rows() == [(acme.id, MARCH_1, 40), (acme.id, MARCH_2, 50)]


def test_a_domain_and_an_account_id_naming_the_same_account_count_as_a_repeat(runner, tmp_path):
    acme = AccountFactory(domain="acme.example")
    other = AccountFactory(domain="other.example")
    path = csv_file(tmp_path, HEADER
        + "https://www.acme.example,,2026-03-01,4,40\n"
        + "other.example,,2026-03-01,1,10\n"
        + f",{acme.id},2026-03-01,9,99\n"
        + f",{acme.id},2026-03-01,8,88\n")  # fmt: skip

    report = import_usage_csv(path)

    assert report.imported == 2
    assert report.problems == [
        f"line 4: account {acme.id} on 2026-03-01 repeats line 2; line 2 was imported",
        f"line 5: account {acme.id} on 2026-03-01 repeats line 2; line 2 was imported",
    ]
    assert usage_rows() == [(acme.id, MARCH_1, 40), (other.id, MARCH_1, 10)]


@pytest.mark.parametrize(
    ("bom", "encoding"),
    [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
     (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF32_LE, "utf-32-le")],
)  # fmt: skip
def test_a_file_with_a_byte_order_mark_is_decoded_by_it(runner, tmp_path, bom, encoding):
    bakery = AccountFactory(domain="bäckerei-münchen.example")
    text = HEADER + "bäckerei-münchen.example,,2026-03-01,4,40\r\n"
    path = csv_file(tmp_path, bom + text.encode(encoding))

    result = import_file(runner, path)

    assert result.exit_code == 0, result.output
    assert "imported 1 row(s), skipped 0" in result.output
    assert usage_rows() == [(bakery.id, MARCH_1, 40)]


def test_a_windows_1252_file_is_refused_with_the_fix_then_imports_with_its_encoding(
    runner, tmp_path
):
    bakery = AccountFactory(domain="bäckerei-münchen.example")
    text = HEADER + ",,2026-03-01,1,1\n" + "bäckerei-münchen.example,,2026-03-01,4,40\n"
    path = csv_file(tmp_path, text.encode("cp1252"))

    refused = import_file(runner, path)

    assert refused.exit_code == 1
    assert "usage.csv: not valid UTF-8 at line 3 (byte 0xE4)" in refused.output
    assert "save the file as UTF-8, or name its encoding, e.g. --encoding cp1252" in refused.output
    assert usage_rows() == []

    imported = import_file(runner, path, "--encoding", "cp1252")

    assert imported.exit_code == 0, imported.output
    assert "imported 1 row(s), skipped 1" in imported.output
    assert usage_rows() == [(bakery.id, MARCH_1, 40)]


def test_an_unknown_encoding_name_is_a_usage_error(runner, tmp_path):
    path = csv_file(tmp_path, HEADER + "acme.example,,2026-03-01,4,40\n")

    result = import_file(runner, path, "--encoding", "klingon")

    assert result.exit_code == 2
    assert "Invalid value for '--encoding': unknown encoding: klingon" in result.output


def test_a_utf16_file_without_byte_order_mark_gets_a_hint_not_a_column_list(runner, tmp_path):
    path = csv_file(tmp_path, (HEADER + "acme.example,,2026-03-01,4,40\n").encode("utf-16-le"))

    result = import_file(runner, path)

    assert result.exit_code == 1
    assert "the header contains NUL characters; is it UTF-16?" in result.output
    assert "missing column" not in result.output


@pytest.mark.parametrize(
    "content",
    ["", "\n\n\r\n", HEADER, HEADER + "\n\n"],
    ids=["empty", "blank", "header", "header+blank"],
)
def test_a_file_without_data_rows_says_so_and_fails(runner, tmp_path, content):
    AccountFactory(domain="acme.example")
    path = csv_file(tmp_path, content)

    result = import_file(runner, path)

    assert result.exit_code == 1
    assert result.output.strip().endswith("Error: usage.csv has no rows")
    assert usage_rows() == []


def test_a_row_with_too_many_or_too_few_fields_is_reported_and_the_others_imported(
    runner, tmp_path
):
    acme = AccountFactory(domain="acme.example")
    path = csv_file(tmp_path, HEADER
        + "acme.example,,2026-03-01,4,40,oops\n"
        + "acme.example,,2026-03-02,5,50\n"
        + "acme.example,,2026-03-03,6\n")  # fmt: skip

    result = import_file(runner, path)

    assert result.exit_code == 0, result.output
    assert "line 2: has 6 fields, the header has 5" in result.output
    assert "line 4: has 4 fields, the header has 5" in result.output
    assert usage_rows() == [(acme.id, MARCH_2, 50)]


def test_an_unclosed_quote_refuses_the_file_naming_the_line(runner, tmp_path):
    AccountFactory(domain="acme.example")
    path = csv_file(tmp_path, HEADER
        + "acme.example,,2026-03-01,4,40\n"
        + '"acme.example,,2026-03-02,5,50\n'
        + "acme.example,,2026-03-03,6,60\n")  # fmt: skip

    result = import_file(runner, path)

    assert result.exit_code == 1
    assert "usage.csv: line 3 is not valid CSV: a quote opened there is never closed" in (
        result.output
    )
    assert usage_rows() == []


def test_a_nul_character_in_a_cell_reports_that_line_and_imports_the_others(runner, tmp_path):
    acme = AccountFactory(domain="acme.example")
    path = csv_file(tmp_path, HEADER
        + "acme.example,,2026-03-01,4,40\n"
        + "acme.exa\0mple,,2026-03-02,5,1\x0050\n")  # fmt: skip

    result = import_file(runner, path)

    assert result.exit_code == 0, result.output
    assert "line 3: a cell contains a NUL character" in result.output
    assert "imported 1 row(s), skipped 1" in result.output
    assert usage_rows() == [(acme.id, MARCH_1, 40)]


def test_a_file_whose_every_row_is_bad_fails_after_listing_them(runner, tmp_path):
    path = csv_file(tmp_path, HEADER + "nobody.example,,2026-03-01,4,40\n")

    result = import_file(runner, path)

    assert result.exit_code == 1
    assert "line 2: no account matches" in result.output
    assert "Error: nothing was imported from usage.csv" in result.output
