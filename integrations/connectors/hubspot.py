"""HubSpot CRM v3: companies -> accounts, renewal deals -> renewal dates. Bearer-token auth.

The first run pages through the list endpoint (`after`); later runs use the search endpoint
filtered on `hs_lastmodifieddate >= since`, sorted ascending. Search stops at 10,000 results per
query, so before `after` reaches the cap the query re-anchors on the last timestamp seen.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any, ClassVar

import requests.auth

from integrations.accounts import (
    company_values,
    parse_renewal_date,
    write_accounts,
    write_renewal_dates,
)
from integrations.connectors.base import Connector
from integrations.http import HttpClient, VendorError
from integrations.matching import MatchKeys
from integrations.records import BadRecord, Page, Parsed, Stream, parse_time, require

SOURCE = "hubspot"
SEARCH_CAP = 10_000
PAGE_SIZE = 100
DEFAULT_PROPERTIES = {
    "name": "name",
    "domain": "domain",
    "arr": "arr",
    "renewal_date": "renewal_date",
    "owner_email": "cs_owner_email",
}


class BearerAuth(requests.auth.AuthBase):
    """`Authorization: Bearer <token>`."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def millis(stamp: str) -> int:
    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000)


class HubSpotStream(Stream):
    client: HttpClient  # the connector built one: never None for an HTTP vendor
    object_type: ClassVar[str] = ""
    source = SOURCE

    def properties(self) -> list[str]:
        raise NotImplementedError

    def pages(self, cursor: str | None) -> Iterator[Page]:
        state = json.loads(cursor) if cursor else {"mode": "list", "after": None, "max": 0}
        if state["mode"] == "list":  # the first full load; later runs search
            yield from self.list_pages(state)
        else:
            yield from self.search_pages(state)

    def list_pages(self, state: dict[str, Any]) -> Iterator[Page]:
        while True:
            params: dict[str, Any] = {"limit": PAGE_SIZE, "properties": ",".join(self.properties())}
            if self.object_type == "deals":
                params["associations"] = "companies"
            if state["after"]:
                params["after"] = state["after"]
            body = self.client.get_json(f"/crm/v3/objects/{self.object_type}", params=params)
            records = results(body)
            state["max"] = max([state["max"], *map(modified_millis, records)])
            state["after"] = next_after(body)
            if state["after"] is None:
                state.update(mode="search", since=state["max"], after=0)
            yield Page(records, json.dumps(state))
            if state["mode"] == "search":
                return

    def search_pages(self, state: dict[str, Any]) -> Iterator[Page]:
        while True:
            body = self.client.post_json(
                f"/crm/v3/objects/{self.object_type}/search", self.search_body(state)
            )
            records = results(body)
            after = next_after(body)
            last = max([state["since"], *map(modified_millis, records)])
            if after is None:
                yield Page(records, json.dumps({"mode": "search", "since": last, "after": 0}))
                return
            if int(after) + PAGE_SIZE > SEARCH_CAP:  # re-anchor before the cap
                if last == state["since"]:
                    raise VendorError("more than 10,000 HubSpot records share one timestamp")
                state = {"mode": "search", "since": last, "after": 0}
            else:
                state = {**state, "after": int(after)}
            yield Page(records, json.dumps(state))

    def search_body(self, state: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "filterGroups": [
                {"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                              "value": str(state["since"])}]}
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": self.properties(),
            "limit": PAGE_SIZE,
        }  # fmt: skip
        if state.get("after"):
            body["after"] = str(state["after"])
        return body


def results(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise VendorError("HubSpot answered without a results list")
    return body["results"]


def next_after(body: dict[str, Any]) -> str | None:
    return ((body.get("paging") or {}).get("next") or {}).get("after")


def modified_millis(record: Any) -> int:
    """hs_lastmodifieddate of a record in ms (0 when absent or malformed: never advances)."""
    try:
        return millis(record["properties"]["hs_lastmodifieddate"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return 0


def properties_of(raw: dict[str, Any]) -> dict[str, Any]:
    props = raw.get("properties")
    if not isinstance(props, dict):
        raise BadRecord("properties is missing")
    return props


class CompanyStream(HubSpotStream):
    name = "companies"
    object_type = "companies"
    needs_account = False  # an unmatched company becomes a new account

    def mapping(self) -> dict[str, str]:
        return {**DEFAULT_PROPERTIES, **self.settings.get("properties", {})}

    def properties(self) -> list[str]:
        return [*self.mapping().values(), "hs_lastmodifieddate"]

    def parse(self, raw: dict[str, Any]) -> Parsed:
        company_id = require(raw, "id", str)
        props = properties_of(raw)
        parse_time(props.get("hs_lastmodifieddate"), "hs_lastmodifieddate")
        values = company_values(props, self.mapping())
        domains = (values["domain"],) if values["domain"] else ()
        return Parsed(company_id, MatchKeys(company_id, domains), values)

    def write(self, rows: list[tuple[Parsed, int | None]]) -> tuple[int, int]:
        return write_accounts(SOURCE, rows, self.settings.get("default_plan", "growth"))


class DealStream(HubSpotStream):
    """Open deals in the renewal pipeline set their company's account renewal date."""

    name = "deals"
    object_type = "deals"

    def properties(self) -> list[str]:
        company = self.settings.get("deal_company_property", "associatedcompanyid")
        return ["dealname", "closedate", "pipeline", "dealstage", "hs_lastmodifieddate", company]

    def parse(self, raw: dict[str, Any]) -> Parsed:
        deal_id = require(raw, "id", str)
        props = properties_of(raw)
        company = props.get(self.settings.get("deal_company_property", "associatedcompanyid"))
        linked = ((raw.get("associations") or {}).get("companies") or {}).get("results") or []
        company = company or (linked[0].get("id") if linked else None)
        pipeline = self.settings.get("renewal_pipeline")
        renewal = pipeline is None or props.get("pipeline") == pipeline
        closed = str(props.get("dealstage", "")).startswith("closed")
        values = {
            "renewal_date": parse_renewal_date(props.get("closedate"), "closedate")
            if renewal and not closed
            else None
        }
        return Parsed(deal_id, MatchKeys(str(company) if company else None), values)

    def write(self, rows: list[tuple[Parsed, int | None]]) -> tuple[int, int]:
        return write_renewal_dates(rows, SOURCE)


class HubSpotConnector(Connector):
    client: HttpClient  # build_client makes one
    kind = "hubspot"
    credential_fields = ("access_token",)

    @classmethod
    def build_client(cls, connection, credentials: dict[str, Any], **options: Any) -> HttpClient:
        auth = BearerAuth(credentials.get("access_token", ""))
        return HttpClient(
            connection.base_url or "https://api.hubapi.com",
            auth=auth,
            budget=connection.request_budget,
            **options,
        )

    def streams(self) -> list[Stream]:
        return [
            CompanyStream(self.connection, self.client),
            DealStream(self.connection, self.client),
        ]

    def check(self) -> None:
        self.client.get_json("/crm/v3/objects/companies", params={"limit": 1})
