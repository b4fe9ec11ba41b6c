"""For every test package: the request log of in-process gateways stays out of pytest's output."""

from collections.abc import Iterator

import pytest

from ftproxy.observe.logs import ACCESS_LOG


@pytest.fixture(autouse=True)
def _access_log_written_inside_the_test() -> Iterator[None]:
    """An in-process gateway starts the request log's writer thread (`logs.configure()`), which
    writes each line a moment after the request: the last lines of a test landed while pytest
    printed its progress, outside any capture, and leaked into the run's output (issue 21 item
    17). Each test's lines are written before its teardown ends, and the log stays as it was."""
    yield
    was_on = ACCESS_LOG.enabled
    ACCESS_LOG.flush()  # writes what is queued (captured as this test's output), stops the writer
    if was_on:
        ACCESS_LOG.start()
