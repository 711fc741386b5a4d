"""What every connector is: credentials -> an HttpClient, a list of streams, a cheap check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from integrations.http import HttpClient
from integrations.models import Connection
from integrations.records import Stream


@dataclass
class Connector:
    connection: Connection
    client: HttpClient | None  # None for sources that are not HTTP (SQL)
    kind: ClassVar[str] = ""
    # Credential fields the admin form asks for, in order.
    credential_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def build_client(cls, connection: Connection, credentials: dict[str, Any], **options: Any):
        """The HttpClient with this vendor's authentication."""
        raise NotImplementedError

    def streams(self) -> list[Stream]:
        raise NotImplementedError

    def check(self) -> None:
        """One cheap authenticated request; raises IntegrationError when it fails."""
        raise NotImplementedError

    @property
    def settings(self) -> dict[str, Any]:
        return self.connection.settings or {}
