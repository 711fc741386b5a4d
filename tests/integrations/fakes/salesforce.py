"""A Salesforce fake: OAuth 2 client-credentials token endpoint, SOQL query with
`nextRecordsUrl` paging (SELECT fields FROM Account|Opportunity, `Type = '...'` and
`SystemModstamp >= ...` filters, ORDER BY SystemModstamp), INVALID_SESSION_ID 401s for unknown or
expired tokens, and REQUEST_LIMIT_EXCEEDED errors shaped like Salesforce's."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.integrations.fakes.server import FakeVendor, json_response

BASE = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
VERSION = "v60.0"


def sf_time(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def parse_sf_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace(".000+0000", "+00:00"))


@dataclass
class FakeSalesforce(FakeVendor):
    client_id: str = "3MVG9-client"
    client_secret: str = "sf-secret-s3cret"
    tokens: set[str] = field(default_factory=set)
    objects: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"Account": [], "Opportunity": []}
    )
    batch_size: int = 2000
    cursors: dict[str, list[dict]] = field(default_factory=dict)
    clock: int = 0
    # Expire every token once this many query pages have been served (0: never), so a token the
    # client holds dies between two pages of one sync, as Salesforce sessions do.
    expire_after_pages: int = 0
    pages_served: int = 0
    sessions_refused: int = 0  # 401 INVALID_SESSION_ID answers given

    def add(self, sobject: str, record_id: str, **fields: Any) -> None:
        self.clock += 1
        self.objects[sobject].append({
            "attributes": {"type": sobject, "url": f"/services/data/{VERSION}/sobjects/"
                                                   f"{sobject}/{record_id}"},
            "Id": record_id, "SystemModstamp": sf_time(BASE + dt.timedelta(minutes=self.clock)),
            **fields,
        })  # fmt: skip

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def rate_limited(self) -> Response:
        return json_response([{"message": "TotalRequests Limit exceeded.",
                               "errorCode": "REQUEST_LIMIT_EXCEEDED"}], 403)  # fmt: skip

    def handle(self, request: Request) -> Response:
        if request.path == "/services/oauth2/token" and request.method == "POST":
            return self.token(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            self.sessions_refused += 1
            return json_response(
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401
            )
        if request.path == f"/services/data/{VERSION}/limits":
            return json_response({"DailyApiRequests": {"Max": 15000, "Remaining": 14000}})
        if request.path == f"/services/data/{VERSION}/query":
            return self.query(request.args.get("q", ""))
        if request.path.startswith(f"/services/data/{VERSION}/query/"):
            return self.more(request.path.rsplit("/", 1)[-1])
        return json_response([{"message": "not found", "errorCode": "NOT_FOUND"}], 404)

    def token(self, request: Request) -> Response:
        form = request.form
        if (form.get("grant_type"), form.get("client_id"), form.get("client_secret")) != (
            "client_credentials", self.client_id, self.client_secret):  # fmt: skip
            return json_response(
                {"error": "invalid_client", "error_description": "invalid client credentials"}, 400
            )
        token = "00D" + secrets.token_hex(16)
        self.tokens.add(token)
        return json_response({"access_token": token, "instance_url": self.url,
                              "token_type": "Bearer", "issued_at": "1700000000000",
                              "signature": "c2lnbmF0dXJl"})  # fmt: skip

    def query(self, soql: str) -> Response:
        match = re.match(r"SELECT (.+?) FROM (\w+)(?: WHERE (.+?))?(?: ORDER BY (\w+) ASC)?$", soql)
        if match is None or match.group(2) not in self.objects:
            return json_response([{"message": "unexpected token", "errorCode": "MALFORMED_QUERY"}],
                                 400)  # fmt: skip
        fields = [f.strip() for f in match.group(1).split(",")]
        rows = self.objects[match.group(2)]
        for condition in (match.group(3) or "").split(" AND "):
            if condition.startswith("SystemModstamp >= "):
                since = parse_sf_time(condition.split(">= ")[1])
                rows = [r for r in rows if parse_sf_time(r["SystemModstamp"]) >= since]
            elif condition.startswith("Type = "):
                wanted = condition.split("= ")[1].strip("'")
                rows = [r for r in rows if r.get("Type") == wanted]
        rows = sorted(rows, key=lambda r: r["SystemModstamp"])
        shaped = [self.shape(r, fields) for r in rows]
        query_id = "01gFAKE" + secrets.token_hex(4)
        self.cursors[query_id] = shaped
        return self.more(f"{query_id}-0")

    def more(self, locator: str) -> Response:
        query_id, _, offset = locator.rpartition("-")
        rows = self.cursors.get(query_id)
        if rows is None or not offset.isdigit():
            return json_response([{"message": "invalid query locator",
                                   "errorCode": "INVALID_QUERY_LOCATOR"}], 400)  # fmt: skip
        start = int(offset)
        page = rows[start : start + self.batch_size]
        body: dict[str, Any] = {"totalSize": len(rows), "done": start + len(page) >= len(rows),
                                "records": page}  # fmt: skip
        if not body["done"]:
            body["nextRecordsUrl"] = (
                f"/services/data/{VERSION}/query/{query_id}-{start + len(page)}"
            )
        self.pages_served += 1
        if self.pages_served == self.expire_after_pages:
            self.expire_tokens()
        return json_response(body)

    @staticmethod
    def shape(record: dict, fields: list[str]) -> dict:
        shaped = {"attributes": record["attributes"]}
        for name in fields:
            head, _, tail = name.partition(".")
            if tail:
                shaped[head] = {
                    "attributes": {"type": head},
                    tail: (record.get(head) or {}).get(tail),
                }
            else:
                shaped[name] = record.get(name)
        return shaped
