"""GET /export over multi-turn chats: the header that says how many the format cut, and the lines it sends."""

from __future__ import annotations

from litestar.testing import TestClient

from store.tasks import add_tasks
from tests.store.conversations import chat_tasks, expected_alpaca_lines, expected_chat_lines, expected_text


def test_the_export_says_how_many_chats_alpaca_cut(client: TestClient, dataset_id: str) -> None:
    add_tasks(client.app.state.store, dataset_id, chat_tasks(), source="sharegpt-demo", stage="t")
    url = f"/v1/datasets/{dataset_id}/export"
    alpaca = client.get(url, params={"format": "alpaca"})
    assert alpaca.status_code == 200 and alpaca.headers["x-conversations-cut"] == "1"
    assert alpaca.text == expected_text(expected_alpaca_lines())
    messages = client.get(url, params={"format": "messages"})
    assert messages.headers["x-conversations-cut"] == "0" and messages.text == expected_text(
        expected_chat_lines("messages")
    )
    # Filters narrow the count as they narrow the lines: the math category holds no multi-turn chat.
    assert client.get(url, params={"format": "alpaca", "category": "math"}).headers["x-conversations-cut"] == "0"
    document = client.get("/schema/openapi.json").json()
    headers = document["paths"]["/v1/datasets/{dataset_id}/export"]["get"]["responses"]["200"]["headers"]
    assert headers["X-Conversations-Cut"]["schema"] == {"type": "integer", "minimum": 0}
