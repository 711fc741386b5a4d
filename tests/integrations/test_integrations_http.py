"""The shared HTTP client against a real local server: budget, waits, redaction, errors."""

from __future__ import annotations

import email.utils
import time

import pytest
from werkzeug.wrappers import Request, Response

from integrations.hosts import policy_for
from integrations.http import (
    AuthFailedError,
    BudgetExhaustedError,
    HttpClient,
    MalformedResponseError,
    RateLimitedError,
    VendorError,
    redact_url,
    shown_url,
)
from tests.integrations.fakes.server import FakeVendor, json_response

LOCAL = policy_for("test", ["127.0.0.1"])  # the fakes' host, allowed as an operator would


class Echo(FakeVendor):
    truncated = 0  # how many answers of /flaky-json come cut off before the good ones

    def handle(self, request: Request) -> Response:
        if request.path == "/broken-json":
            return Response("<html>oops</html>", 200)
        if request.path == "/flaky-json" and self.truncated:
            self.truncated -= 1
            return Response('{"ok": tr', 200, mimetype="application/json")
        return json_response({"ok": True})


@pytest.fixture
def echo():
    fake = Echo()
    fake.start()
    yield fake
    fake.stop()


def client_for(fake, recorder, **options) -> HttpClient:
    return HttpClient(fake.url, sleep=recorder, rng=lambda: 1.0, hosts=LOCAL, **options)


def test_the_request_budget_stops_a_run(echo, no_sleep):
    client = client_for(echo, no_sleep, budget=2)
    client.get_json("/a")
    client.get_json("/b")

    with pytest.raises(BudgetExhaustedError):
        client.get_json("/c")
    assert len(echo.requests) == 2


def test_retry_after_as_an_http_date_is_honoured(echo, no_sleep):
    later = email.utils.formatdate(time.time() + 20, usegmt=True)
    echo.inject(429, headers={"Retry-After": later})

    assert client_for(echo, no_sleep).get_json("/x") == {"ok": True}
    assert 17 <= no_sleep.waits[0] <= 21


def test_a_retry_after_longer_than_a_run_should_wait_gives_up(echo, no_sleep):
    echo.inject(429, headers={"Retry-After": "86400"})

    with pytest.raises(RateLimitedError, match="86400"):
        client_for(echo, no_sleep).get_json("/x")
    assert no_sleep.waits == []


def test_back_off_doubles_up_to_its_ceiling(echo, no_sleep):
    echo.inject(502, times=4)

    client_for(echo, no_sleep).get_json("/x")

    assert no_sleep.waits == [1.0, 2.0, 4.0, 8.0]  # rng pinned to its maximum


def test_client_errors_are_not_retried(echo, no_sleep):
    echo.inject(404)

    with pytest.raises(VendorError, match="404"):
        client_for(echo, no_sleep).get_json("/x")
    assert len(echo.requests) == 1


def test_403_is_an_authentication_failure(echo, no_sleep):
    echo.inject(403, body={"error": "forbidden"})

    with pytest.raises(AuthFailedError):
        client_for(echo, no_sleep).get_json("/x")


def test_a_truncated_body_is_retried_and_the_next_good_answer_used(echo, no_sleep):
    echo.truncated = 1

    assert client_for(echo, no_sleep).get_json("/flaky-json") == {"ok": True}
    assert no_sleep.waits == [1.0]  # the first back-off step of a 5xx


def test_a_body_that_stays_malformed_fails_after_the_back_off_of_a_server_error(echo, no_sleep):
    with pytest.raises(MalformedResponseError) as failure:
        client_for(echo, no_sleep).get_json("/broken-json?api_key=k3y")

    assert str(failure.value) == f"malformed JSON from {echo.url}/broken-json (200) after 5 tries"
    assert no_sleep.waits == [1.0, 2.0, 4.0, 8.0]
    assert len(echo.requests) == 5


def test_a_401_while_refreshing_credentials_fails_instead_of_refreshing_again(echo, no_sleep):
    echo.inject(401, times=20, body={"error": "invalid_client"})
    client = client_for(echo, no_sleep, budget=10)

    def reauthenticate():
        client.request("POST", "/token")  # answers 401 too

    client.reauthenticate = reauthenticate

    with pytest.raises(AuthFailedError, match="invalid_client"):
        client.get_json("/x")
    assert [r.path for r in echo.requests] == ["/x", "/token"]


def test_an_unreachable_vendor_fails_after_the_retries(no_sleep):
    client = HttpClient("http://127.0.0.1:9", sleep=no_sleep, timeout=0.5, hosts=LOCAL)

    with pytest.raises(VendorError, match="failed after 5 tries"):
        client.get_json("/x")
    assert len(no_sleep.waits) == 4


def test_secret_query_values_and_userinfo_are_redacted():
    url = "https://user:pw@api.example.com/v1/items?api_key=abc123&page=2&access_token=t0k"

    safe = redact_url(url)

    assert safe == "https://api.example.com/v1/items?api_key=***&page=2&access_token=***"


def test_logged_urls_keep_the_port_and_mask_secrets_but_drop_credentials():
    url = "http://user:pw@[::1]:8443/v1?token=t0k&page=2"

    assert redact_url(url) == "http://[::1]:8443/v1?token=***&page=2"


def test_error_messages_show_scheme_host_port_and_path_but_no_credentials_or_query():
    url = "https://user:pw@crm.example.com:8443/v1/items?api_key=abc123&page=2#top"

    assert shown_url(url) == "https://crm.example.com:8443/v1/items"
    assert shown_url("https://crm.example.com/v1") == "https://crm.example.com/v1"


def test_an_unreachable_vendor_names_its_port_in_the_error(no_sleep):
    client = HttpClient("http://127.0.0.1:9", sleep=no_sleep, timeout=0.5, hosts=LOCAL)

    with pytest.raises(VendorError) as failure:
        client.get_json("/x", params={"api_key": "k3y"})
    assert str(failure.value) == "GET http://127.0.0.1:9/x failed after 5 tries: ConnectionError"
