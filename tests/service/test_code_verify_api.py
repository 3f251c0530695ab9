"""POST /v1/code/verify through the test client, on the service's real sandbox."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from tests.service.conftest import assert_error

TOTAL = "def total(n):\n    s = 0\n    for i in range(1, n):\n        s += i\n    return s\n"
STRONG = ["assert total(0) == 0", "assert total(1) == 0", "assert total(2) == 1", "assert total(5) == 10"]


def test_a_strong_test_set(client: TestClient) -> None:
    response = client.post("/v1/code/verify", json={"solution": TOTAL, "tests": STRONG, "entry_point": "total"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["tests_passed"], body["tests_total"], body["weak_tests"]) == ("passed", 4, 4, 0)
    assert body["tests"][0] == {"test": STRONG[0], "passed": True, "message": None, "weak": None}
    assert (body["mutants"], body["killed"], body["kill_rate"], body["kill_rate_note"]) == (10, 9, 0.9, None)
    assert body["survivors"] == [
        {
            "id": "m04",
            "operator": "off_by_one",
            "line": 3,
            "description": "range bound `1` -> `0`",
            "changed_line": "for i in range(0, n):",
        }
    ]


def test_a_weak_test_set(client: TestClient) -> None:
    tests = ["assert total(0) == 0", "assert True"]
    response = client.post("/v1/code/verify", json={"solution": TOTAL, "tests": tests, "entry_point": "total"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [test["weak"] for test in body["tests"]] == [None, "assert_constant"]
    assert (body["weak_tests"], body["mutants"], body["killed"], body["kill_rate"]) == (1, 10, 3, 0.3)
    assert len(body["survivors"]) == 7


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"solution": "def total(n:\n", "tests": STRONG, "entry_point": "total"}, "solution_unparseable"),
        ({"solution": TOTAL, "tests": ["assert total(("], "entry_point": "total"}, "tests_unparseable"),
        ({"solution": TOTAL, "tests": STRONG, "entry_point": "sum_to"}, "entry_point_missing"),
    ],
)
def test_input_that_cannot_be_verified_is_a_400_with_a_stable_code(client: TestClient, payload: dict, code: str):
    body = assert_error(client.post("/v1/code/verify", json=payload), 400, code)
    if code == "tests_unparseable":
        assert [error["test"] for error in body["extra"]["errors"]] == [0]


@pytest.mark.parametrize(
    "payload",
    [
        {"solution": TOTAL, "tests": STRONG, "entry_point": "total", "language": "python"},
        {"solution": TOTAL, "tests": [], "entry_point": "total"},
        {"solution": TOTAL, "tests": ["assert total(0) == 0"] * 51, "entry_point": "total"},
        {"solution": TOTAL, "tests": STRONG, "entry_point": "total()"},
        {"solution": TOTAL, "tests": STRONG, "entry_point": "lambda"},
        {"solution": "#" + "é" * 50_000, "tests": STRONG, "entry_point": "total"},  # 100,001 bytes
        {"solution": TOTAL, "tests": STRONG, "entry_point": "total", "max_mutants": 101},
    ],
)
def test_requests_out_of_bounds_are_refused_before_running(client: TestClient, payload: dict) -> None:
    assert_error(client.post("/v1/code/verify", json=payload), 400, "invalid_request")
