"""Fuzz settings: FUZZ_EXAMPLES examples per property (default 200), no per-example deadline."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,
    # The app and client fixtures are shared by the examples on purpose: each example is a
    # request to the same running application.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FUZZ = settings.get_profile("fuzz")


@pytest.fixture
def generous_limits(app) -> Iterator[None]:
    """Rate limits far above the fuzz run's requests, so examples reach the parsers, not a 429."""
    keys = ("SURVEY_PAGE_RATE_LIMIT", "INGEST_RATE_LIMIT")
    saved = {key: app.config[key] for key in keys}
    app.config.update(dict.fromkeys(keys, "100000 per minute"))
    yield
    app.config.update(saved)
