"""Zendesk Support: organizations (time-based incremental export) and tickets (cursor-based
incremental export with metric sets and requesters sideloaded). Basic auth `email/token`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from requests.auth import HTTPBasicAuth

from integrations.connectors.base import Connector
from integrations.http import HttpClient, VendorError
from integrations.matching import MatchKeys, normalise_domain
from integrations.models import TICKET_PRIORITIES, TICKET_STATUSES
from integrations.records import (
    BadRecord,
    Page,
    Parsed,
    Stream,
    parse_email,
    parse_minutes,
    parse_time,
    require,
)
from integrations.writers import write_external_ids, write_tickets

SOURCE = "zendesk"


def expect(body: Any, key: str) -> list[dict[str, Any]]:
    """body[key] as a list, or a VendorError naming what was wrong."""
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise VendorError(f"Zendesk answered without a {key!r} list")
    return body[key]


class OrganizationStream(Stream):
    """Organizations map to accounts by stored id or domain; the mapping is what tickets use."""

    client: HttpClient  # the connector built one: never None for an HTTP vendor
    name = "organizations"
    source = SOURCE

    def pages(self, cursor: str | None) -> Iterator[Page]:
        start = int(cursor or self.settings.get("start_time", 0))
        while True:
            body = self.client.get_json(
                "/api/v2/incremental/organizations.json", params={"start_time": start}
            )
            records = expect(body, "organizations")
            start = int(body.get("end_time") or start)
            yield Page(records, str(start))
            if body.get("end_of_stream", True):
                return

    def parse(self, raw: dict[str, Any]) -> Parsed:
        org_id = require(raw, "id", int)
        domains = raw.get("domain_names") or []
        if not isinstance(domains, list):
            raise BadRecord(f"domain_names is not a list: {domains!r}")
        normalised = tuple(d for d in map(normalise_domain, domains) if d)
        return Parsed(str(org_id), MatchKeys(str(org_id), normalised), {})

    def write(self, rows: list[tuple[Parsed, int | None]]) -> tuple[int, int]:
        return write_external_ids(SOURCE, rows)


class TicketStream(Stream):
    client: HttpClient  # the connector built one: never None for an HTTP vendor
    name = "tickets"
    source = SOURCE

    def pages(self, cursor: str | None) -> Iterator[Page]:
        common = {"include": "metric_sets,users", "exclude_deleted": "true"}
        if "per_page" in self.settings:
            common["per_page"] = str(self.settings["per_page"])
        params = (
            {"cursor": cursor}
            if cursor
            else {"start_time": int(self.settings.get("start_time", 0))}
        )
        while True:
            body = self.client.get_json(
                "/api/v2/incremental/tickets/cursor.json", params={**params, **common}
            )
            yield Page(self.joined(body), body.get("after_cursor") or cursor)
            if body.get("end_of_stream", True) or not body.get("after_cursor"):
                return
            cursor = body["after_cursor"]
            params = {"cursor": cursor}

    @staticmethod
    def joined(body: Any) -> list[dict[str, Any]]:
        """Tickets with their metric set and requester email folded in (self-contained records)."""
        tickets = expect(body, "tickets")
        metrics = {m.get("ticket_id"): m for m in body.get("metric_sets") or []}
        emails = {u.get("id"): u.get("email") for u in body.get("users") or []}
        return [
            {
                **ticket,
                "metric_set": metrics.get(ticket.get("id")),
                "requester_email": emails.get(ticket.get("requester_id")),
            }
            if isinstance(ticket, dict)
            else {"malformed": ticket}
            for ticket in tickets
        ]

    def parse(self, raw: dict[str, Any]) -> Parsed:
        ticket_id = require(raw, "id", int)
        status = raw.get("status")
        if status not in TICKET_STATUSES:
            raise BadRecord(f"status {status!r} is not one of {', '.join(TICKET_STATUSES)}")
        priority = raw.get("priority") or "normal"
        if priority not in TICKET_PRIORITIES:
            raise BadRecord(f"priority {priority!r} is unknown")
        metrics = raw.get("metric_set") or {}
        rating = raw.get("satisfaction_rating") or {}
        score = rating.get("score") if isinstance(rating, dict) else None
        values = {
            "subject": str(raw.get("subject") or "")[:300],
            "status": status,
            "priority": priority,
            "created_at": parse_time(raw.get("created_at"), "created_at"),
            "updated_at": parse_time(raw.get("updated_at"), "updated_at"),
            "solved_at": parse_time(metrics.get("solved_at"), "solved_at", required=False),
            "first_reply_minutes": parse_minutes(
                (metrics.get("reply_time_in_minutes") or {}).get("calendar"), "reply_time"
            ),
            "resolution_minutes": parse_minutes(
                (metrics.get("full_resolution_time_in_minutes") or {}).get("calendar"),
                "full_resolution_time",
            ),
            "satisfaction": score if score in ("good", "bad") else None,
            "requester_email": parse_email(raw.get("requester_email")),
        }
        org = raw.get("organization_id")
        email = values["requester_email"]
        keys = MatchKeys(str(org) if org else None, emails=(email,) if email else ())
        return Parsed(str(ticket_id), keys, values)

    def write(self, rows: list[tuple[Parsed, int | None]]) -> tuple[int, int]:
        return write_tickets(SOURCE, rows)


class ZendeskConnector(Connector):
    client: HttpClient  # build_client makes one
    kind = "zendesk"
    credential_fields = ("email", "api_token")

    @classmethod
    def build_client(cls, connection, credentials: dict[str, Any], **options: Any) -> HttpClient:
        user = f"{credentials.get('email', '')}/token"
        auth = HTTPBasicAuth(user, credentials.get("api_token", ""))
        return HttpClient(
            connection.base_url, auth=auth, budget=connection.request_budget, **options
        )

    def streams(self) -> list[Stream]:
        return [
            OrganizationStream(self.connection, self.client),
            TicketStream(self.connection, self.client),
        ]

    def check(self) -> None:
        self.client.get_json("/api/v2/users/me.json")
