"""Connectors by kind. Each builds its HTTP client from the connection and lists its streams."""

from __future__ import annotations

from integrations.connectors.base import Connector
from integrations.connectors.freshdesk import FreshdeskConnector
from integrations.connectors.hubspot import HubSpotConnector
from integrations.connectors.salesforce import SalesforceConnector
from integrations.connectors.warehouse import WarehouseConnector
from integrations.connectors.zendesk import ZendeskConnector

CONNECTORS: dict[str, type[Connector]] = {
    "zendesk": ZendeskConnector,
    "hubspot": HubSpotConnector,
    "sql": WarehouseConnector,
    "freshdesk": FreshdeskConnector,
    "salesforce": SalesforceConnector,
}
