"""Salesforce: Accounts -> accounts and open renewal Opportunities -> renewal dates, by SOQL over
/services/data/vXX.X/query following `nextRecordsUrl`, incremental on `SystemModstamp`.
OAuth 2 client-credentials flow; an expired token (401) is refreshed once and the call retried."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from integrations.accounts import (
    company_values,
    parse_renewal_date,
    write_accounts,
    write_renewal_dates,
)
from integrations.connectors.base import Connector
from integrations.connectors.hubspot import BearerAuth
from integrations.http import HttpClient, VendorError
from integrations.matching import MatchKeys
from integrations.records import BadRecord, Page, Parsed, Stream, parse_time, require

SOURCE = "salesforce"
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
API_VERSION = "v60.0"
DEFAULT_FIELDS: dict[str, str | None] = {
    "name": "Name",
    "domain": "Website",
    "arr": "AnnualRevenue",
    "renewal_date": None,
    "owner_email": "Owner.Email",
}


def soql_time(stamp: str) -> str:
    """A SystemModstamp as a SOQL dateTime literal (seconds; `>=` makes the cut inclusive)."""
    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00").replace("+0000", "+00:00"))
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def flatten(record: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Field values by (dotted) name: "Owner.Email" reads record["Owner"]["Email"]."""
    values = {}
    for name in names:
        value: Any = record
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values[name] = value
    return values


class SoqlStream(Stream):
    client: HttpClient  # the connector built one: never None for an HTTP vendor
    source = SOURCE
    sobject = ""

    def fields(self) -> list[str]:
        raise NotImplementedError

    def conditions(self) -> list[str]:
        return []

    def pages(self, cursor: str | None) -> Iterator[Page]:
        if self.client.auth is None:
            assert self.client.reauthenticate is not None  # build_client sets it
            self.client.auth = self.client.reauthenticate()
        where = self.conditions()
        if cursor:
            where.append(f"SystemModstamp >= {soql_time(cursor)}")
        if not all(FIELD_NAME.fullmatch(name) for name in self.fields()):
            raise VendorError(f"invalid Salesforce field names in settings: {self.fields()}")
        query = f"SELECT {', '.join(self.fields())} FROM {self.sobject}"  # noqa: S608 - checked
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY SystemModstamp ASC"
        body = self.client.get_json(f"/services/data/{API_VERSION}/query", params={"q": query})
        while True:
            if not isinstance(body, dict) or not isinstance(body.get("records"), list):
                raise VendorError("Salesforce answered without records")
            records = body["records"]
            stamps = [r.get("SystemModstamp") for r in records if isinstance(r, dict)]
            cursor = max([cursor or "", *(s for s in stamps if isinstance(s, str))]) or None
            yield Page(records, cursor)
            if body.get("done", True) or not body.get("nextRecordsUrl"):
                return
            body = self.client.get_json(body["nextRecordsUrl"])


class AccountStream(SoqlStream):
    name = "accounts"
    sobject = "Account"
    needs_account = False  # an unmatched Salesforce account becomes a new account

    def mapping(self) -> dict[str, str | None]:
        return {**DEFAULT_FIELDS, **self.settings.get("fields", {})}

    def fields(self) -> list[str]:
        mapped = [name for name in self.mapping().values() if name]
        return ["Id", *dict.fromkeys(mapped), "SystemModstamp"]

    def parse(self, raw: dict[str, Any]) -> Parsed:
        account_id = require(raw, "Id", str)
        parse_time(raw.get("SystemModstamp", "").replace("+0000", "Z"), "SystemModstamp")
        values = company_values(flatten(raw, self.fields()), self.mapping())
        domains = (values["domain"],) if values["domain"] else ()
        return Parsed(account_id, MatchKeys(account_id, domains), values)

    def write(self, rows: list[tuple[Parsed, int | None]]) -> tuple[int, int]:
        return write_accounts(SOURCE, rows, self.settings.get("default_plan", "growth"))


class OpportunityStream(SoqlStream):
    """Open opportunities of the renewal type set the renewal date of their account."""

    name = "opportunities"
    sobject = "Opportunity"

    def fields(self) -> list[str]:
        return ["Id", "AccountId", "CloseDate", "IsClosed", "Type", "SystemModstamp"]

    def conditions(self) -> list[str]:
        return [f"Type = {soql_string(self.settings.get('renewal_type', 'Renewal'))}"]

    def parse(self, raw: dict[str, Any]) -> Parsed:
        opportunity_id = require(raw, "Id", str)
        account = raw.get("AccountId")
        if raw.get("IsClosed") not in (True, False):
            raise BadRecord(f"IsClosed is not a boolean: {raw.get('IsClosed')!r}")
        day = None if raw["IsClosed"] else parse_renewal_date(raw.get("CloseDate"), "CloseDate")
        return Parsed(opportunity_id, MatchKeys(account), {"renewal_date": day})

    def write(self, rows: list[tuple[Parsed, int | None]]) -> tuple[int, int]:
        return write_renewal_dates(rows, SOURCE)


class SalesforceConnector(Connector):
    client: HttpClient  # build_client makes one
    kind = "salesforce"
    credential_fields = ("client_id", "client_secret")

    @classmethod
    def build_client(cls, connection, credentials: dict[str, Any], **options: Any) -> HttpClient:
        client = HttpClient(
            connection.base_url or "https://login.salesforce.com",
            budget=connection.request_budget,
            **options,
        )
        client.reauthenticate = lambda: fetch_token(client, credentials)
        return client

    def streams(self) -> list[Stream]:
        return [
            AccountStream(self.connection, self.client),
            OpportunityStream(self.connection, self.client),
        ]

    def check(self) -> None:
        assert self.client.reauthenticate is not None  # build_client sets it
        self.client.auth = self.client.reauthenticate()
        self.client.get_json(f"/services/data/{API_VERSION}/limits")


def fetch_token(client: HttpClient, credentials: dict[str, Any]) -> BearerAuth:
    """A fresh access token (client-credentials grant); API calls then go to its instance_url."""
    client.auth = None
    _, body = client.request_json(
        "POST",
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials.get("client_id", ""),
            "client_secret": credentials.get("client_secret", ""),
        },
    )
    if not isinstance(body, dict) or not body.get("access_token"):
        raise VendorError("Salesforce token answer without access_token")
    client.base_url = body.get("instance_url") or client.base_url
    return BearerAuth(body["access_token"])
