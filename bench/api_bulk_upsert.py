"""Accounts per second written by a CRM sync through the bulk upsert, beside one PUT each.

Serves the app with gunicorn on a scratch PostgreSQL database and, as a HubSpot or Salesforce
sync would, sends N accounts (with owners' emails and four custom traits) in batches to
POST /api/v1/accounts/bulk: first creating them, then the same batches again (nothing changes),
then with a tenth of the fields changed. Then a sample of accounts one PUT
/api/v1/accounts/external/{source}/{id} each, the way a sync without the bulk endpoint writes.

    .venv/bin/python bench/api_bulk_upsert.py --accounts 20000 --batch 500

Prints accounts/s for each pass, then drops the database.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter

import requests
from api_common import ROOT, add_port_option, exit_cleanly_on_signals, scratch_database
from api_reads import seed_with_sql, served

OWNERS_SQL = [
    """
    INSERT INTO users (email, name, role, password_hash, active, created_at, session_version)
    SELECT 'csm' || g || '@example.com', 'CSM ' || g, 'csm', 'x', true, now(), 1
    FROM generate_series(1, 20) AS g
    """
]


def crm_account(number: int, revision: int) -> dict:
    """Account `number` as the CRM sends it; a higher revision changes every tenth account."""
    changed = revision if number % 10 == 0 else 0
    return {
        "source": "hubspot",
        "external_id": str(100000 + number),
        "name": f"Customer {number}",
        "domain": f"customer{number}.example.com",
        "segment": ("smb", "mid_market", "enterprise")[number % 3],
        "plan": ("starter", "growth", "enterprise")[number % 3],
        "arr": 5000 + (number * 37) % 250000 + changed * 1000,
        "seats": 10 + number % 300,
        "contract_start": "2026-01-01",
        "renewal_date": "2027-01-01",
        "owner_email": f"csm{1 + number % 20}@example.com",
        "traits": {
            "tier": ("gold", "silver", "bronze")[number % 3],
            "licences": 10 + number % 500 + changed,
            "sso": number % 2 == 0,
            "go_live": "2026-03-01",
        },
    }


def bulk_pass(session: requests.Session, base: str, total: int, batch: int, revision: int):
    """Every account in batches; returns (seconds, statuses counted)."""
    statuses: Counter[str] = Counter()
    started = time.perf_counter()
    for start in range(0, total, batch):
        rows = [crm_account(n, revision) for n in range(start, min(start + batch, total))]
        answer = session.post(f"{base}/api/v1/accounts/bulk", json={"accounts": rows}, timeout=300)
        answer.raise_for_status()
        statuses.update(answer.json()["summary"])
    return time.perf_counter() - started, statuses


def single_pass(session: requests.Session, base: str, total: int, sample: int) -> float:
    """`sample` further accounts, one PUT each; returns seconds."""
    started = time.perf_counter()
    for number in range(total, total + sample):
        row = crm_account(number, 0)
        url = f"{base}/api/v1/accounts/external/{row.pop('source')}/{row.pop('external_id')}"
        session.put(url, json=row, timeout=60).raise_for_status()
    return time.perf_counter() - started


def report(name: str, accounts: int, seconds: float, statuses: Counter | None = None) -> None:
    counted = (
        "  " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()) if v) if statuses else ""
    )
    print(
        f"{name:<30} {accounts:>7} accounts {seconds:7.1f} s "
        f"{accounts / seconds:>8,.0f} /s{counted}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--single", type=int, default=1_000, help="accounts sent one PUT each")
    parser.add_argument("--workers", type=int, default=2)
    add_port_option(parser)
    args = parser.parse_args()
    exit_cleanly_on_signals()
    with scratch_database("cs_bench_bulk") as url, tempfile.TemporaryDirectory() as instance:
        key = seed_with_sql(url, instance, OWNERS_SQL, {}, scopes=("write:accounts",))
        with served(url, instance, args.workers, args.port) as base, requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {key}"
            print(f"gunicorn {args.workers} sync workers, one client, batch={args.batch}")
            for name, revision in (("bulk: create", 0), ("bulk: same again", 0),
                                   ("bulk: a tenth changed", 1)):  # fmt: skip
                seconds, statuses = bulk_pass(session, base, args.accounts, args.batch, revision)
                report(name, args.accounts, seconds, statuses)
            seconds = single_pass(session, base, args.accounts, args.single)
            report("one PUT per account: create", args.single, seconds)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
