"""GET /api/v1/health-scores/latest: every account's latest health score with the band in force,
each filter alone, churned accounts, keyset pages and one query per page; and the account filters
of GET /api/v1/health-scores."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from cs_platform import clock
from cs_platform.extensions import db
from cs_platform.models import Account, AccountTrait, TraitDefinition, utcnow
from scoring.models import HealthScore
from tests.cs_platform.api.test_api_endpoints import assert_error
from tests.factories import AccountFactory, BandOverrideFactory, HealthScoreFactory

LATEST = "/api/v1/health-scores/latest"
TODAY = clock.today()
YESTERDAY = TODAY - dt.timedelta(days=1)


def scored(
    score: float = 62.0, days: tuple[dt.date, ...] = (YESTERDAY, TODAY), **fields
) -> Account:
    """An account with a nightly score on each of `days`; the last one has `score`, the earlier
    ones the opposite band, so that a filter read on an older row would pick the wrong account."""
    account = AccountFactory(**fields)
    for day in days[:-1]:
        HealthScoreFactory(account=account, scored_on=day, score=100.0 - score)
    HealthScoreFactory(account=account, scored_on=days[-1], score=score)
    return account


def latest(client, headers: dict[str, str], **query: Any) -> list[dict]:
    """The one page of /health-scores/latest with `query`, asserted to be the last."""
    response = client.get(LATEST, query_string=query, headers=headers)
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["next_cursor"] is None
    return body["data"]


def ids(rows: list[dict]) -> list[int]:
    return [row["account_id"] for row in rows]


@pytest.fixture
def headers(auth_headers) -> dict[str, str]:
    return auth_headers("read:scores")


@pytest.mark.parametrize(
    ("query", "wanted", "other"),
    [
        ({"segment": "enterprise"}, {"segment": "enterprise"}, {"segment": "smb"}),
        ({"plan": "growth"}, {"plan": "growth"}, {"plan": "starter"}),
        (
            {"lifecycle_stage": "renewing"},
            {"lifecycle_stage": "renewing"},
            {"lifecycle_stage": "mature"},
        ),
        ({"band": "red"}, {"score": 30.0}, {"score": 75.0}),
        ({"min_score": 60}, {"score": 60.0}, {"score": 59.5}),
        ({"max_score": "40.5"}, {"score": 40.5}, {"score": 41.0}),
    ],
)
def test_each_account_or_score_filter_alone_keeps_only_matching_accounts(
    client, headers, query, wanted, other
):
    matching, unmatched = scored(**wanted), scored(**other)
    assert ids(latest(client, headers)) == sorted([matching.id, unmatched.id])
    assert ids(latest(client, headers, **query)) == [matching.id]


def test_owner_id_and_unowned_pick_one_book(client, headers, make_user):
    alice, bob = make_user("csm", name="Alice"), make_user("csm", name="Bob")
    alices, bobs, nobodys = scored(owner=alice), scored(owner=bob), scored(owner=None)
    assert ids(latest(client, headers, owner_id=alice.id)) == [alices.id]
    assert ids(latest(client, headers, unowned="true")) == [nobodys.id]
    everyone = sorted([alices.id, bobs.id, nobodys.id])
    assert ids(latest(client, headers, unowned="false")) == everyone
    assert latest(client, headers, owner_id=alice.id, unowned="true") == []


def latest_row(account: Account) -> HealthScore:
    return db.session.scalars(
        db.select(HealthScore)
        .where(HealthScore.account_id == account.id)
        .order_by(HealthScore.scored_on.desc())
    ).first()


def test_updated_since_keeps_accounts_whose_latest_score_was_written_since(client, headers):
    stale, fresh = scored(), scored()  # the older row of each was written just now
    latest_row(stale).updated_at = utcnow() - dt.timedelta(days=10)
    db.session.commit()
    since = (utcnow() - dt.timedelta(days=1)).isoformat() + "Z"
    assert ids(latest(client, headers, updated_since=since)) == [fresh.id]


def test_an_override_in_force_sets_the_effective_band_and_its_filter(client, headers):
    overridden, plain = scored(score=30.0), scored(score=30.0)
    BandOverrideFactory(account=overridden, band="green")
    BandOverrideFactory(account=plain, band="green", expires_on=YESTERDAY)  # no longer in force
    rows = {row["account_id"]: row for row in latest(client, headers)}
    assert (rows[overridden.id]["band"], rows[overridden.id]["effective_band"]) == ("red", "green")
    assert rows[overridden.id]["override"]["reason"] == "Exec sponsor confirmed the renewal"
    assert (rows[plain.id]["effective_band"], rows[plain.id]["override"]) == ("red", None)
    assert ids(latest(client, headers, effective_band="green")) == [overridden.id]
    assert ids(latest(client, headers, effective_band="red")) == [plain.id]
    assert ids(latest(client, headers, band="red")) == sorted([overridden.id, plain.id])


def test_the_newest_of_two_open_overrides_is_in_force(client, headers):
    account = scored(score=30.0)
    BandOverrideFactory(account=account, band="green")
    BandOverrideFactory(account=account, band="yellow")
    [row] = latest(client, headers)
    assert row["effective_band"] == "yellow"


def test_each_item_is_what_the_account_health_endpoint_answers(client, headers):
    account = scored(score=35.0)
    BandOverrideFactory(account=account, band="yellow")
    single = client.get(f"/api/v1/accounts/{account.id}/health", headers=headers).get_json()
    assert latest(client, headers) == [single]


def test_only_each_accounts_latest_day_is_listed_even_when_it_was_not_scored_last_night(
    client, headers
):
    quarantined = scored(score=20.0, days=(TODAY - dt.timedelta(days=3), YESTERDAY))
    nightly = scored(score=80.0, days=(TODAY - dt.timedelta(days=2), YESTERDAY, TODAY))
    AccountFactory()  # never scored: not listed
    rows = latest(client, headers)
    assert [(row["account_id"], row["scored_on"], row["score"]) for row in rows] == [
        (quarantined.id, YESTERDAY.isoformat(), 20.0),
        (nightly.id, TODAY.isoformat(), 80.0),
    ]


def test_churned_accounts_are_left_out_unless_asked_for(client, headers):
    live = scored()
    by_date = scored(days=(YESTERDAY,), churned_at=YESTERDAY, lifecycle_stage="renewing")
    by_stage = scored(days=(YESTERDAY,), lifecycle_stage="churned")
    assert ids(latest(client, headers)) == [live.id]
    assert ids(latest(client, headers, include_churned="false")) == [live.id]
    everyone = [live.id, by_date.id, by_stage.id]
    assert ids(latest(client, headers, include_churned="true")) == everyone
    assert ids(latest(client, headers, lifecycle_stage="churned")) == [by_stage.id]
    assert latest(client, headers, lifecycle_stage="renewing") == []


def test_filters_combine_for_the_red_enterprise_accounts_of_one_csm(client, headers, make_user):
    alice, bob = make_user("csm", name="Alice"), make_user("csm", name="Bob")
    wanted = scored(score=25.0, owner=alice, segment="enterprise")
    scored(score=25.0, owner=alice, segment="smb")
    scored(score=25.0, owner=bob, segment="enterprise")
    scored(score=55.0, owner=alice, segment="enterprise")
    saved = scored(score=25.0, owner=alice, segment="enterprise")
    BandOverrideFactory(account=saved, band="green")
    query = {"segment": "enterprise", "effective_band": "red", "owner_id": alice.id}
    assert ids(latest(client, headers, **query)) == [wanted.id]


def walk(client, headers: dict[str, str], **query: Any) -> Iterator[list[dict]]:
    """Every page of /health-scores/latest, following next_cursor."""
    cursor = ""
    while cursor is not None:
        body = client.get(LATEST, query_string=query | {"cursor": cursor}, headers=headers)
        yield body.get_json()["data"]
        cursor = body.get_json()["next_cursor"]


def test_pages_list_every_account_exactly_once_in_id_order(client, headers):
    accounts = [scored(score=20.0 + 10 * n) for n in range(7)]
    pages = [ids(page) for page in walk(client, headers, limit=3)]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [n for page in pages for n in page] == [account.id for account in accounts]
    filtered = [ids(page) for page in walk(client, headers, limit=2, min_score=40)]
    assert [n for page in filtered for n in page] == [account.id for account in accounts[2:]]


@contextmanager
def statements_reading_scores() -> Iterator[list[str]]:
    """The SQL statements sent while the block runs that read health_scores."""
    seen: list[str] = []

    def record(conn, cursor, statement: str, *_: Any) -> None:
        if "health_scores" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@pytest.mark.parametrize("accounts", [2, 6])
def test_a_page_is_one_query_whatever_its_size(client, headers, accounts):
    for n in range(accounts):
        BandOverrideFactory(account=scored(score=30.0 + n), band="green")
    with statements_reading_scores() as seen:
        rows = latest(client, headers, effective_band="green")
    assert len(rows) == accounts
    assert len(seen) == 1


def test_the_latest_route_is_its_own_operation_beside_the_bulk_list(app):
    adapter = app.url_map.bind("localhost")
    assert adapter.match(LATEST)[0] == "scores_api.list_latest_health_scores"
    assert adapter.match("/api/v1/health-scores")[0] == "scores_api.list_health_scores"


def test_a_call_without_a_key_is_401_and_without_read_scores_403(client, auth_headers):
    assert_error(client.get(LATEST), 401, "unauthorized")
    assert_error(client.get(LATEST, headers=auth_headers("read:surveys")), 403, "forbidden")


@pytest.mark.parametrize(
    "query",
    [
        "segment=galactic",
        "plan=free",
        "lifecycle_stage=dormant",
        "owner_id=0",
        "owner_id=-3",
        "unowned=perhaps",
        "band=purple",
        "effective_band=blue",
        "min_score=-1",
        "max_score=100.5",
        "min_score=nan",
        "updated_since=yesterday",
        "include_churned=2",
        "cursor=not-a-cursor",
        "limit=501",
        "account_id=3",
    ],
)
def test_a_bad_value_is_a_422_naming_the_parameter(client, headers, query):
    details = assert_error(
        client.get(f"{LATEST}?{query}", headers=headers), 422, "unprocessable_entity"
    )
    assert query.split("=")[0] in details["query"]


def test_the_bulk_list_takes_segment_and_owner_id(client, headers, make_user):
    alice = make_user("csm", name="Alice")
    enterprise, alices = scored(segment="enterprise"), scored(segment="smb", owner=alice)

    def accounts(**query: Any) -> set[int]:
        body = client.get("/api/v1/health-scores", query_string=query, headers=headers)
        return {row["account_id"] for row in body.get_json()["data"]}

    assert accounts(segment="enterprise") == {enterprise.id}
    assert accounts(owner_id=alice.id) == {alices.id}
    assert accounts(segment="enterprise", owner_id=alice.id) == set()


def test_latest_scores_filter_by_custom_traits(client, headers):
    gold, silver = scored(), scored()
    db.session.add(TraitDefinition(key="tier", label="Tier", type="string"))
    gold.traits = [AccountTrait(key="tier", value_text="gold")]
    silver.traits = [AccountTrait(key="tier", value_text="silver")]
    db.session.commit()

    assert ids(latest(client, headers, trait="tier:gold")) == [gold.id]
    assert ids(latest(client, headers, trait="tier:ne:gold")) == [silver.id]
    refused = client.get(LATEST, query_string={"trait": "colour:red"}, headers=headers)
    assert (
        "no trait 'colour'"
        in assert_error(refused, 422, "unprocessable_entity")["query"]["trait"][0]
    )
