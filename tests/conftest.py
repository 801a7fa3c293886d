import os

import pytest
import torch

# (one torch thread per process is set by the root conftest.py, for tests and doctests alike)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared")


# The claims tier (tests/test_claims.py) records how many claims each test asserted as a user
# property, which pytest-xdist carries from the workers; CI's log prints the total.
_claims_asserted: dict[str, int] = {}


def pytest_runtest_logreport(report):
    if report.when == "call":
        for name, value in report.user_properties:
            if name == "claims_asserted":
                _claims_asserted[report.nodeid] = int(value)


def pytest_terminal_summary(terminalreporter):
    if _claims_asserted:
        experiments = len(_claims_asserted)
        total = sum(_claims_asserted.values())
        terminalreporter.write_line(
            f"claims tier: {total} claims asserted over {experiments} experiments"
        )
