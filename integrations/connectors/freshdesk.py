"""Freshdesk v2: companies (their domains map them to accounts) and tickets changed since the
cursor (`updated_since`, `page`/`per_page`, the `Link` header, `include=stats`). API-key auth:
HTTP Basic with the key as the username and "X" as the password."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from requests.auth import HTTPBasicAuth

from integrations.connectors.base import Connector
from integrations.http import HttpClient, VendorError
from integrations.matching import MatchKeys, normalise_domain
from integrations.records import BadRecord, Page, Parsed, Stream, parse_email, parse_time, require
from integrations.writers import write_external_ids, write_tickets

SOURCE = "freshdesk"
PER_PAGE = 100
MAX_PAGE = 300  # Freshdesk serves at most 300 pages of a list; re-anchor before that
STATUSES = {2: "open", 3: "pending", 4: "solved", 5: "closed"}
PRIORITIES = {1: "low", 2: "normal", 3: "high", 4: "urgent"}


def records_of(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise VendorError("Freshdesk answered without a list")
    return body


class CompanyStream(Stream):
    client: HttpClient  # the connector built one: never None for an HTTP vendor
    name = "companies"
    source = SOURCE

    def pages(self, cursor: str | None) -> Iterator[Page]:
        url: str | None = f"/api/v2/companies?per_page={PER_PAGE}"
        while url:
            response, body = self.client.request_json("GET", url)
            yield Page(records_of(body), None)
            url = response.links.get("next", {}).get("url")

    def parse(self, raw: dict[str, Any]) -> Parsed:
        company_id = str(require(raw, "id", int))
        domains = tuple(d for d in map(normalise_domain, raw.get("domains") or []) if d)
        return Parsed(company_id, MatchKeys(company_id, domains), {})

    def write(self, rows: list[tuple[Parsed, int | None]]) -> tuple[int, int]:
        return write_external_ids(SOURCE, rows)


class TicketStream(Stream):
    client: HttpClient  # the connector built one: never None for an HTTP vendor
    name = "tickets"
    source = SOURCE

    def pages(self, cursor: str | None) -> Iterator[Page]:
        since = cursor or self.settings.get("updated_since", "2000-01-01T00:00:00Z")
        page = 1
        while True:
            response, body = self.client.request_json("GET", "/api/v2/tickets", params={
                "updated_since": since, "order_by": "updated_at", "order_type": "asc",
                "per_page": PER_PAGE, "page": page, "include": "stats,requester",
            })  # fmt: skip
            records = records_of(body)
            stamps = [r["updated_at"] for r in records if isinstance(r.get("updated_at"), str)]
            latest = max([since, *stamps])
            if "next" not in response.links:
                yield Page(records, latest)
                return
            if page + 1 > MAX_PAGE:
                if latest == since:
                    raise VendorError("more than 30,000 Freshdesk tickets share one timestamp")
                since, page = latest, 1
            else:
                page += 1
            yield Page(records, since)  # mid-query: resume from the anchor (upserts are idempotent)

    def parse(self, raw: dict[str, Any]) -> Parsed:
        ticket_id = require(raw, "id", int)
        status, priority = raw.get("status"), raw.get("priority") or 2
        if status not in STATUSES:
            raise BadRecord(f"status {status!r} is not a Freshdesk status (2-5)")
        if priority not in PRIORITIES:
            raise BadRecord(f"priority {priority!r} is not a Freshdesk priority (1-4)")
        created = parse_time(raw.get("created_at"), "created_at")
        stats = raw["stats"] if isinstance(raw.get("stats"), dict) else {}
        requester = raw["requester"] if isinstance(raw.get("requester"), dict) else {}
        email = parse_email(requester.get("email"))
        replied = parse_time(stats.get("first_responded_at"), "first_responded_at", False)
        resolved = parse_time(stats.get("resolved_at"), "resolved_at", False)
        values = {
            "subject": str(raw.get("subject") or "")[:300],
            "status": STATUSES[status],
            "priority": PRIORITIES[priority],
            "created_at": created,
            "updated_at": parse_time(raw.get("updated_at"), "updated_at"),
            "solved_at": resolved,
            "first_reply_minutes": minutes_between(created, replied),
            "resolution_minutes": minutes_between(created, resolved),
            "satisfaction": None,
            "requester_email": email,
        }
        company = raw.get("company_id")
        keys = MatchKeys(str(company) if company else None, emails=(email,) if email else ())
        return Parsed(str(ticket_id), keys, values)

    def write(self, rows: list[tuple[Parsed, int | None]]) -> tuple[int, int]:
        return write_tickets(SOURCE, rows)


def minutes_between(start: dt.datetime | None, end: dt.datetime | None) -> int | None:
    if start is None or end is None:
        return None
    if end < start:
        raise BadRecord(f"{end} is before the ticket was created")
    return int((end - start).total_seconds() // 60)


class FreshdeskConnector(Connector):
    client: HttpClient  # build_client makes one
    kind = "freshdesk"
    credential_fields = ("api_key",)

    @classmethod
    def build_client(cls, connection, credentials: dict[str, Any], **options: Any) -> HttpClient:
        auth = HTTPBasicAuth(credentials.get("api_key", ""), "X")
        return HttpClient(
            connection.base_url, auth=auth, budget=connection.request_budget, **options
        )

    def streams(self) -> list[Stream]:
        return [
            CompanyStream(self.connection, self.client),
            TicketStream(self.connection, self.client),
        ]

    def check(self) -> None:
        self.client.get_json("/api/v2/tickets", params={"per_page": 1})
