"""A Freshdesk v2 fake: companies and tickets with `updated_since`, `order_by=updated_at`,
`page`/`per_page` (at most 100, at most `max_page` pages), the `Link: <...>; rel="next"` header,
`include=stats,requester`; API-key basic auth; 429 with Retry-After and X-RateLimit-* headers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.integrations.fakes.server import FakeVendor, basic_credentials, json_response

BASE = dt.datetime(2025, 2, 1, tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_ticket(ticket_id: int, company_id: int | None, minutes: int, **extra) -> dict:
    created = BASE + dt.timedelta(minutes=minutes)
    return {
        "id": ticket_id, "subject": f"Login fails #{ticket_id}", "status": 2 + ticket_id % 4,
        "priority": 1 + ticket_id % 4, "company_id": company_id, "requester_id": 500 + ticket_id,
        "created_at": iso(created), "updated_at": iso(created + dt.timedelta(hours=1)),
        "stats": {"first_responded_at": iso(created + dt.timedelta(minutes=45)),
                  "resolved_at": iso(created + dt.timedelta(hours=5)), "closed_at": None},
        **extra,
    }  # fmt: skip


@dataclass
class FakeFreshdesk(FakeVendor):
    api_key: str = "fd-key-s3cret"
    companies: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    requesters: dict[int, dict] = field(default_factory=dict)
    max_page: int = 300

    def rate_limited(self) -> Response:
        return json_response(
            {"message": "You have exceeded the limit of requests per minute"}, 429,
            {"Retry-After": "30", "X-RateLimit-Total": "200", "X-RateLimit-Remaining": "0",
             "X-RateLimit-Used-CurrentRequest": "1"},
        )  # fmt: skip

    def handle(self, request: Request) -> Response:
        if basic_credentials(request) != (self.api_key, "X"):
            return json_response({"code": "invalid_credentials",
                                  "message": "You have to be logged in to perform this action."},
                                 401)  # fmt: skip
        if request.path == "/api/v2/companies":
            return self.paged(request, self.companies, lambda c: c)
        if request.path == "/api/v2/tickets":
            since = request.args.get("updated_since", "")
            changed = sorted((t for t in self.tickets if t["updated_at"] >= since),
                             key=lambda t: (t["updated_at"], t["id"]))  # fmt: skip
            return self.paged(request, changed, self.with_includes(request))
        return json_response({"code": "not_found"}, 404)

    def with_includes(self, request: Request):
        include = request.args.get("include", "").split(",")

        def shape(ticket: dict) -> dict:
            shaped = {k: v for k, v in ticket.items() if k != "stats" or "stats" in include}
            if "requester" in include and ticket["requester_id"] in self.requesters:
                shaped["requester"] = self.requesters[ticket["requester_id"]]
            return shaped

        return shape

    def paged(self, request: Request, items: list[dict], shape) -> Response:
        page = request.args.get("page", 1, type=int)
        per_page = min(request.args.get("per_page", 30, type=int), 100)
        if page > self.max_page:
            return json_response({"description": "Validation failed", "errors": [
                {"field": "page", "message": f"Has to be less than or equal to {self.max_page}",
                 "code": "invalid_value"}]}, 400)  # fmt: skip
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {"X-RateLimit-Total": "200", "X-RateLimit-Remaining": "199"}
        if page * per_page < len(items):
            args = {**request.args.to_dict(), "page": str(page + 1)}
            query = "&".join(f"{k}={v}" for k, v in args.items())
            headers["Link"] = f'<{self.url}{request.path}?{query}>; rel="next"'
        return json_response([shape(item) for item in chunk], headers=headers)
