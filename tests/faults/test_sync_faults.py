"""A sync whose database connections are terminated half-way resumes from its stored cursor."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from werkzeug.wrappers import Request, Response

from cs_platform.extensions import db
from integrations.services import save_connection
from tests.factories import AccountFactory
from tests.faults.conftest import FaultDatabase, Processes, wait_for
from tests.integrations.fakes.zendesk import FakeZendesk, make_metric_set, make_ticket

pytestmark = pytest.mark.postgres

TICKETS, PER_PAGE = 600, 50


class SlowZendesk(FakeZendesk):
    """Zendesk whose ticket export takes a while per page, so a test can act mid-sync."""

    def export_tickets(self, request: Request) -> Response:
        time.sleep(0.4)
        return super().export_tickets(request)


@pytest.fixture
def zendesk() -> Iterator[SlowZendesk]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    fake = SlowZendesk()
    fake.add_organization(900, "Acme", ["acme.example"])
    fake.add_user(50, "pat@acme.example")
    for number in range(1, TICKETS + 1):
        ticket = make_ticket(number, 900, 50, minutes=number)
        fake.add_ticket(ticket, make_metric_set(ticket))
    fake.start()
    yield fake
    fake.stop()


def ticket_requests(zendesk: SlowZendesk) -> list[Request]:
    return [r for r in zendesk.requests if r.path.endswith("/tickets/cursor.json")]


def run_sync_process(processes: Processes, fault_db: FaultDatabase, name: str):
    # The fake serves on 127.0.0.1, which the operator allows as an on-premises host.
    env = fault_db.env(INTEGRATIONS_ALLOWED_HOSTS="127.0.0.1", INTEGRATIONS_ALLOW_PRIVATE_HOSTS=1)
    return processes.start(name, ["sync", "zendesk-main"], env)


TERMINATE_OTHERS = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)
TICKET_CURSOR = "SELECT cursor FROM integration_sync_states WHERE stream = 'tickets'"


def test_a_sync_whose_connections_are_terminated_resumes_from_its_cursor(
    fault_db, processes, zendesk
):
    AccountFactory(domain="acme.example")
    credentials = {"email": zendesk.email, "api_token": zendesk.api_token}
    save_connection(
        None,
        name="zendesk-main",
        kind="zendesk",
        base_url=zendesk.url,
        credentials=credentials,
        settings={"per_page": PER_PAGE},
    )
    db.session.commit()
    db.session.remove()
    first = run_sync_process(processes, fault_db, "sync-1")
    wait_for(lambda: fault_db.scalar(TICKET_CURSOR) is not None, 90, "a committed ticket page")

    stored_at_fault = fault_db.scalar("SELECT count(*) FROM support_tickets")
    terminated = 0
    while first.poll() is None:  # the connections die again and again until the run ends
        terminated += fault_db.scalar(TERMINATE_OTHERS)  # type: ignore[operator]
        time.sleep(0.25)
    first_status = first.wait(timeout=60)
    runs = 1
    if first_status != 0:  # the run died with its connection: the next run picks up
        runs += 1
        assert run_sync_process(processes, fault_db, "sync-2").wait(timeout=60) == 0

    requests = ticket_requests(zendesk)
    from_start = [r for r in requests if "start_time" in r.args]
    pages = -(-TICKETS // PER_PAGE)
    print(
        f"\nsync with pg_terminate_backend: {terminated} backend(s) terminated, the first with "
        f"{stored_at_fault} of {TICKETS} tickets stored; first run exit {first_status}, "
        f"{runs} run(s); "
        f"{len(requests)} ticket page requests for {pages} pages "
        f"({len(requests) - pages} fetched again)"
    )
    assert terminated >= 1
    assert fault_db.scalar("SELECT count(DISTINCT external_id) FROM support_tickets") == TICKETS
    assert fault_db.scalar("SELECT count(*) FROM support_tickets") == TICKETS
    assert len(from_start) == 1, "a later run started again from the beginning"
    assert len(requests) <= pages + 2  # at most the page being stored and the one prefetched
    latest = "SELECT status FROM integration_sync_runs ORDER BY id DESC LIMIT 1"
    assert fault_db.scalar(latest) == "succeeded"
