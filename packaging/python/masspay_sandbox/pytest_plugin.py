"""pytest plugin: a `masspay_sandbox` fixture yielding the base URL of a sandbox started for the
test session (add /v1.0.0 or /v0.1.4). Each test should use its own API key (its own tenant)."""

import pytest

from . import start


@pytest.fixture(scope="session")
def masspay_sandbox():
    with start() as base_url:
        yield base_url
