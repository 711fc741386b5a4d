"""Browser fixtures: the app served on 127.0.0.1 in a thread, driven by Debian's Chromium."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

from tests.cs_platform.alerts.conftest import SLACK_OK, FakeWebhook
from tests.local_servers import serve

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# What sandboxing link scanners do to pass for a person's browser: Blink's automation flag off,
# and navigator.webdriver reading false whatever the browser says.
MASKED_AUTOMATION_ARGS = ["--disable-blink-features=AutomationControlled"]
HIDE_WEBDRIVER = "Object.defineProperty(Navigator.prototype, 'webdriver', {get: () => false})"


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[str]:
    """The app served by a real HTTP server; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's chromium package", pytrace=False
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


@pytest.fixture
def scanner(browser: Browser) -> Iterator[Page]:
    """A tab of a second Chromium that hides its automation the way link scanners' sandboxes do
    (launch flag and init script), so a page cannot tell it from a person's browser."""
    masked = browser.browser_type.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS + MASKED_AUTOMATION_ARGS
    )
    context = masked.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(HIDE_WEBDRIVER)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()
    masked.close()


@pytest.fixture
def slack(app: Flask) -> Iterator[FakeWebhook]:
    """A fake Slack incoming webhook on 127.0.0.1, which alerts may reach while it runs."""
    app.config["ALERTS_ALLOW_PRIVATE_HOSTS"] = True
    yield from serve(FakeWebhook(SLACK_OK), "/services/T0001/B0001/browserS3cretT0ken")
    app.config["ALERTS_ALLOW_PRIVATE_HOSTS"] = False
