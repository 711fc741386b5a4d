"""A HubSpot CRM v3 fake: objects list (`after` paging) and search (`hs_lastmodifieddate` GTE
filter, ascending sort, 10,000-result cap), bearer auth, and rate-limit headers and 429s shaped
like HubSpot's (`X-HubSpot-RateLimit-*`, errorType RATE_LIMIT, policyName)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.integrations.fakes.server import FakeVendor, json_response

BASE = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


def iso_ms(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def to_millis(value: str) -> int:
    return int(dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class FakeHubSpot(FakeVendor):
    token: str = "pat-na1-s3cret"
    objects: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"companies": [], "deals": []}
    )
    search_cap: int = 10_000
    remaining: int = 100  # X-HubSpot-RateLimit-Remaining on the next list answer
    clock: int = 0

    def add(self, object_type: str, object_id: str, properties: dict[str, Any], **extra) -> dict:
        """Add or change a record; its hs_lastmodifieddate moves on by a second each time."""
        self.clock += 1
        stamp = iso_ms(BASE + dt.timedelta(seconds=self.clock))
        records = self.objects[object_type]
        record = next((r for r in records if r["id"] == object_id), None)
        if record is None:
            record = {"id": object_id, "properties": {"createdate": stamp}, "archived": False,
                      "createdAt": stamp}  # fmt: skip
            records.append(record)
        record["properties"].update(properties, hs_lastmodifieddate=stamp, hs_object_id=object_id)
        record["updatedAt"] = stamp
        record.update(extra)
        return record

    def limit_headers(self) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": "250000",
            "X-HubSpot-RateLimit-Daily-Remaining": "249000",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": "100",
            "X-HubSpot-RateLimit-Remaining": str(self.remaining),
        }

    def rate_limited(self) -> Response:
        body = {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": "c7a1b7e6-0000-4000-8000-000000000000",
            "policyName": "TEN_SECONDLY_ROLLING",
        }
        return json_response(
            body, 429, {**self.limit_headers(), "X-HubSpot-RateLimit-Remaining": "0"}
        )

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return json_response(
                {"status": "error", "message": "Authentication credentials not found.",
                 "category": "INVALID_AUTHENTICATION"},
                401,
            )  # fmt: skip
        parts = request.path.strip("/").split("/")  # crm v3 objects <type> [search]
        if parts[:3] != ["crm", "v3", "objects"] or parts[3] not in self.objects:
            return json_response({"status": "error", "message": "Not found"}, 404)
        if len(parts) == 5 and parts[4] == "search" and request.method == "POST":
            return self.search(parts[3], request.get_json())
        return self.list(parts[3], request)

    def shaped(self, record: dict, wanted: list[str]) -> dict:
        keep = {"createdate", "hs_lastmodifieddate", "hs_object_id", *wanted}
        props = {k: v for k, v in record["properties"].items() if k in keep}
        return {**record, "properties": props}

    def list(self, object_type: str, request: Request) -> Response:
        records = sorted(self.objects[object_type], key=lambda r: int(r["id"]))
        limit = min(request.args.get("limit", 10, type=int), 100)
        after = request.args.get("after")
        start = (
            next((i for i, r in enumerate(records) if int(r["id"]) > int(after)), len(records))
            if after
            else 0
        )
        page = records[start : start + limit]
        wanted = request.args.get("properties", "").split(",")
        body: dict[str, Any] = {"results": [self.shaped(r, wanted) for r in page]}
        if start + limit < len(records):
            body["paging"] = {"next": {"after": page[-1]["id"], "link": "?after=" + page[-1]["id"]}}
        headers = self.limit_headers()
        self.remaining = 100
        return json_response(body, headers=headers)

    def search(self, object_type: str, body: dict) -> Response:
        after = int(body.get("after") or 0)
        limit = min(int(body.get("limit", 10)), 200)
        if after + limit > self.search_cap:
            return json_response(
                {"status": "error", "category": "VALIDATION_ERROR",
                 "message": f"Search results are limited to {self.search_cap} records."},
                400,
            )  # fmt: skip
        since = 0
        for group in body.get("filterGroups", []):
            for flt in group.get("filters", []):
                if flt["propertyName"] == "hs_lastmodifieddate" and flt["operator"] == "GTE":
                    since = int(flt["value"])
        matches = sorted(
            (r for r in self.objects[object_type]
             if to_millis(r["properties"]["hs_lastmodifieddate"]) >= since),
            key=lambda r: r["properties"]["hs_lastmodifieddate"],
        )  # fmt: skip
        page = matches[after : after + limit]
        answer: dict[str, Any] = {
            "total": len(matches),
            "results": [self.shaped(r, body.get("properties", [])) for r in page],
        }
        if after + limit < len(matches):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return json_response(answer)

    def search_bodies(self) -> list[dict]:
        return [json.loads(r.get_data()) for r in self.requests if r.path.endswith("/search")]
