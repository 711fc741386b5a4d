"""A Zendesk Support fake implementing the contracts the connector relies on.

- Basic auth `{email}/token:{api_token}`; anything else is 401 "Couldn't authenticate you".
- GET /api/v2/users/me.json
- GET /api/v2/incremental/organizations.json?start_time= (time-based export: organizations,
  next_page, end_time, end_of_stream; 1000 per page)
- GET /api/v2/incremental/tickets/cursor.json?start_time=|cursor= (&include=metric_sets,users,
  &per_page=, &exclude_deleted=true): tickets ordered by updated_at, after_cursor/after_url,
  before_cursor, end_of_stream; sideloads metric_sets and users.
- 429: {"error": "APIRateLimitExceeded"} with Retry-After and X-Rate-Limit-* headers.
- Fault: ticket pages whose JSON is cut off half-way (`truncate_ticket_pages`), as under load.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.integrations.fakes.server import FakeVendor, basic_credentials, json_response

BASE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"pos:{position}".encode()).decode()


def decode_cursor(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except ValueError:
        return None
    return int(text[4:]) if text.startswith("pos:") and text[4:].isdigit() else None


def make_ticket(ticket_id: int, org_id: int | None, requester_id: int, minutes: int) -> dict:
    created = BASE + dt.timedelta(minutes=minutes)
    return {
        "id": ticket_id,
        "url": f"https://example.zendesk.com/api/v2/tickets/{ticket_id}.json",
        "subject": f"Cannot export report #{ticket_id}",
        "status": ("open", "pending", "solved", "closed")[ticket_id % 4],
        "priority": ("low", "normal", "high", "urgent", None)[ticket_id % 5],
        "organization_id": org_id,
        "requester_id": requester_id,
        "created_at": iso(created),
        "updated_at": iso(created + dt.timedelta(hours=2)),
        "satisfaction_rating": {"score": ("good", "bad", "offered", "unoffered")[ticket_id % 4]},
        "tags": ["export"],
    }


def make_metric_set(ticket: dict) -> dict:
    return {
        "id": ticket["id"] + 1_000_000,
        "ticket_id": ticket["id"],
        "reply_time_in_minutes": {"calendar": 30 + ticket["id"] % 90, "business": 20},
        "full_resolution_time_in_minutes": {"calendar": 600, "business": 300},
        "solved_at": ticket["updated_at"] if ticket["status"] in ("solved", "closed") else None,
    }


@dataclass
class FakeZendesk(FakeVendor):
    email: str = "agent@vendor.example"
    api_token: str = "zd-token-s3cret"
    organizations: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    metric_sets: dict[int, dict] = field(default_factory=dict)
    users: dict[int, dict] = field(default_factory=dict)
    retry_after: int = 7
    truncate_left: float = 0  # ticket pages still to cut off (math.inf: every one)
    truncate_skip: int = 0  # good ticket pages to serve before cutting any off

    def add_organization(self, org_id: int, name: str, domains: list[str]) -> None:
        self.organizations.append(
            {
                "id": org_id,
                "name": name,
                "domain_names": domains,
                "updated_at": iso(BASE + dt.timedelta(minutes=len(self.organizations))),
            }
        )

    def add_user(self, user_id: int, email: str) -> None:
        self.users[user_id] = {"id": user_id, "email": email, "name": email.partition("@")[0]}

    def add_ticket(self, ticket: dict, metric_set: dict | None = None) -> None:
        self.tickets.append(ticket)
        if metric_set is not None:
            self.metric_sets[ticket["id"]] = metric_set

    def truncate_ticket_pages(self, times: float = 1, after: int = 0) -> None:
        """Cut the JSON of the next `times` ticket pages (math.inf: all of them, until called with
        0) off half-way, after `after` good pages: a truncated 200 is what a vendor under load
        sends."""
        self.truncate_left, self.truncate_skip = times, after

    def rate_limited(self) -> Response:
        return json_response(
            {"error": "APIRateLimitExceeded", "description": "Number of allowed API requests "
             "per minute exceeded"},
            429,
            {"Retry-After": str(self.retry_after), "X-Rate-Limit": "10",
             "X-Rate-Limit-Remaining": "0"},
        )  # fmt: skip

    def handle(self, request: Request) -> Response:
        if basic_credentials(request) != (f"{self.email}/token", self.api_token):
            return json_response({"error": "Couldn't authenticate you"}, 401)
        routes = {
            "/api/v2/users/me.json": self.me,
            "/api/v2/incremental/organizations.json": self.export_organizations,
            "/api/v2/incremental/tickets/cursor.json": self.export_tickets,
        }
        handler = routes.get(request.path)
        if handler is None:
            return json_response({"error": "InvalidEndpoint"}, 404)
        return handler(request)

    def me(self, request: Request) -> Response:
        return json_response({"user": {"id": 1, "email": self.email, "role": "admin"}})

    def export_organizations(self, request: Request) -> Response:
        start = request.args.get("start_time", type=int)
        if start is None:
            return json_response({"error": "InvalidValue", "description": "start_time"}, 400)
        changed = [o for o in self.organizations if stamp(o["updated_at"]) >= start][:1000]
        end_time = stamp(changed[-1]["updated_at"]) if changed else start
        return json_response(
            {
                "organizations": changed,
                "count": len(changed),
                "end_time": end_time,
                "end_of_stream": len(changed) < 1000,
                "next_page": f"{self.url}{request.path}?start_time={end_time}",
            }
        )

    def export_tickets(self, request: Request) -> Response:
        ordered = self.ordered_tickets()
        cursor = request.args.get("cursor")
        if cursor is not None:
            position = decode_cursor(cursor)
            if position is None:
                return json_response({"error": "InvalidPaginationParameter"}, 400)
        elif "start_time" in request.args:
            start = request.args.get("start_time", type=int) or 0
            position = next(
                (i for i, t in enumerate(ordered) if stamp(t["updated_at"]) >= start), len(ordered)
            )
        else:
            return json_response({"error": "InvalidValue", "description": "start_time"}, 400)
        per_page = min(request.args.get("per_page", 1000, type=int), 1000)
        page = ordered[position : position + per_page]
        after = position + len(page)
        body: dict[str, Any] = {
            "tickets": page,
            "after_cursor": encode_cursor(after),
            "after_url": f"{self.url}{request.path}?cursor={encode_cursor(after)}",
            "before_cursor": encode_cursor(position),
            "before_url": None,
            "end_of_stream": after >= len(ordered),
        }
        include = request.args.get("include", "").split(",")
        if "metric_sets" in include:
            body["metric_sets"] = [
                self.metric_sets[t["id"]] for t in page if t["id"] in self.metric_sets
            ]
        if "users" in include:
            ids = {t.get("requester_id") for t in page}
            body["users"] = [self.users[i] for i in ids if i in self.users]
        return self.maybe_truncated(json_response(body))

    def maybe_truncated(self, response: Response) -> Response:
        if not self.truncate_left:
            return response
        if self.truncate_skip:
            self.truncate_skip -= 1
            return response
        self.truncate_left -= 1
        text = response.get_data(as_text=True)
        return Response(text[: len(text) // 2], 200, mimetype="application/json")

    def ordered_tickets(self) -> list[dict]:
        return sorted(self.tickets, key=lambda t: (str(t.get("updated_at")), str(t.get("id"))))


def stamp(value: str) -> int:
    return int(dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
