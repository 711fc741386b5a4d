"""Fixtures of the task pages' tests: a CSM and a client signed in as them."""

from __future__ import annotations

import pytest

from cs_platform.models import User


@pytest.fixture
def csm(make_user) -> User:
    return make_user("csm", name="Olivia Owner")


@pytest.fixture
def owner_client(csm, login):
    return login(csm)
