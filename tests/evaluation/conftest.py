from __future__ import annotations

import pytest

from tests.helpers import LookupJudge


@pytest.fixture
def lookup_judge():
    return LookupJudge
