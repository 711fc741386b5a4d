"""Property-based tests of every API operation against the served OpenAPI document, with every
schemathesis check: no 5xx, every answer as documented (status, content type, headers, schema),
schema-invalid requests refused and schema-valid ones accepted; then sequences of calls that
follow the links schemathesis infers (an account's id from a list into its health, risk, tasks,
a PATCH, ...)."""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.schemas import APIOperation

from tests.factories import (
    AccountFactory,
    CampaignFactory,
    ChurnRiskFactory,
    ContactFactory,
    HealthScoreFactory,
    TaskFactory,
)

# Bounded so CI stays quick; raise SCHEMATHESIS_EXAMPLES locally for a deeper search.
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
POSITIVE = schemathesis.GenerationMode.POSITIVE
# Valid requests the document cannot tell from invalid ones, answered 422 by design: account
# writes naming an owner_email of no active CSM, a renewal before the contract start or a date
# outside the stored range; account or score lists filtered by a trait nobody defined; webhook
# endpoints whose URL resolves to a private address; an event list `since` an event no longer
# stored; contact writes naming an unknown account or time zone
# (or an address the email check refuses); survey invitations through an unknown or paused
# campaign. Every other valid request must be accepted.
RULES_BEYOND_THE_DOCUMENT = {
    "include-operation-id": [
        "list_accounts",
        "list_latest_health_scores",
        "update_account",
        "upsert_account",
        "create_webhook_endpoint",
        "update_webhook_endpoint",
        "list_events",
        "upsert_contact",
        "update_contact",
        "create_survey_invitation",
    ],
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
        }
    },
}
# A bulk upsert checks each row alone and answers 200 with the rows it refused (docs/api.md), so
# a batch holding an invalid row is rightly not refused as a whole.
ROWS_CHECKED_ONE_BY_ONE = {
    "include-operation-id": ["upsert_accounts"],
    "checks": {"negative_data_rejection": {"enabled": False}},
}


@pytest.fixture
def seeded(app, monkeypatch) -> None:
    """A few accounts with scores and contacts and a campaign, so that generated ids 1-3 find
    rows and answer 200, and a rate limit a deep run never reaches."""
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "1000000 per minute")
    for _ in range(3):
        account = AccountFactory()
        HealthScoreFactory(account=account)
        ChurnRiskFactory(account=account)
        TaskFactory(account=account)
        ContactFactory(account=account)
    CampaignFactory()


def served_schema(live_api: str, api_key: str, **config: Any) -> schemathesis.schemas.BaseSchema:
    """The served document, with the key as its bearerAuth scheme (so schemathesis knows which
    requests carry a key) and the statuses expected of valid requests."""
    config |= {
        "auth": {"openapi": {"bearerAuth": {"bearer": api_key}}},
        "operations": [RULES_BEYOND_THE_DOCUMENT, ROWS_CHECKED_ONE_BY_ONE],
    }
    return schemathesis.openapi.from_url(
        f"{live_api}/api/v1/openapi.json", config=SchemathesisConfig.from_dict(config)
    )


def fixed_query(operation: APIOperation, mode: schemathesis.GenerationMode) -> dict[str, str]:
    """A cursor is valid only as the server wrote it, so valid requests send the empty one (the
    first page), as they would send ids that exist."""
    pages = any(parameter.name == "cursor" for parameter in operation.query)
    return {"cursor": ""} if pages and mode == POSITIVE else {}


def bounded(**options: Any) -> settings:
    """EXAMPLES cases, reproducible, with no deadline (a live server answers)."""
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        **options,
    )


def admin_key(auth_headers) -> str:
    return auth_headers("admin")["Authorization"].removeprefix("Bearer ")


@pytest.mark.parametrize("mode", [POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented(live_api, seeded, auth_headers, mode):
    schema = served_schema(live_api, admin_key(auth_headers))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:
        strategy = operation.as_strategy(generation_mode=mode, query=fixed_query(operation, mode))

        @given(case=strategy)
        @bounded()
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate()

        check()


def test_sequences_following_links_answer_as_documented(live_api, seeded, auth_headers):
    schema = served_schema(live_api, admin_key(auth_headers), generation={"mode": "positive"})

    class Sequences(schema.as_state_machine()):
        def before_call(self, case: schemathesis.Case) -> None:
            case.query = {**(case.query or {}), **fixed_query(case.operation, POSITIVE)}

    Sequences.run(settings=bounded(stateful_step_count=6))
