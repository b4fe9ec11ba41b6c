"""Makes the helpers next to these tests importable (pytest runs with --import-mode=importlib),
and the fixtures several unit test modules share."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ftproxy import _json


@pytest.fixture(scope="module", params=["fast", "stdlib"])
def json_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The parser of the running interpreter (orjson here), then the stdlib one of 3.14t."""
    if request.param == "stdlib":
        saved = _json.BACKEND, _json.loads
        _json.BACKEND, _json.loads = "json", _json._stdlib_loads
        yield "json"
        _json.BACKEND, _json.loads = saved
    else:
        yield _json.BACKEND
