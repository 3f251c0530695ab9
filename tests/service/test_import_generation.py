"""Open datasets end to end over HTTP against `instructforge serve` on the real vLLM engine (the session's server).

Two imports of overlapping sources (an Alpaca file and a Dolly file that repeats some of it, with instruction-only
rows), the overlap report, an `annotate` job that answers the instruction-only rows on the real engine, and a
snapshot with a mixing recipe whose manifest shows the sources, their licences and the shares it reached.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.service.servers import Server, serving_on

pytestmark = pytest.mark.server

ALPACA = {
    "Give three tips for staying healthy.": "Eat plenty of vegetables, sleep seven to eight hours, and walk every day.",
    "Explain why the sky looks blue during the day.": "Air molecules scatter short blue wavelengths of sunlight "
    "more than long red ones, so blue light reaches our eyes from every direction of the sky.",
    "Convert 25 degrees Celsius to Fahrenheit.": "25 degrees Celsius is 77 degrees Fahrenheit.",
    "Write a haiku about autumn leaves falling.": "Red leaves drift and fall\nwhispering to the cold ground\n"
    "autumn says goodbye",
    "List the planets of the solar system in order from the sun.": "Mercury, Venus, Earth, Mars, Jupiter, Saturn, "
    "Uranus, Neptune.",
    "Suggest a name for a bakery that sells only sourdough bread.": "Wild Yeast Loaves",
    "Compose a polite email declining a meeting invitation.": "Dear Sam, thank you for the invitation. I am "
    "unable to attend on Tuesday, but I would be glad to catch up next week. Best regards, Alex",
    "Identify the main verb in the given sentence.": "The main verb is 'runs'.",
}
UNANSWERED = ["Name three colors of the rainbow.", "What is the capital city of France?",
              "List two fruits that are yellow."]  # fmt: skip
DOLLY_OWN = ["Who painted the ceiling of the Sistine Chapel?", "How do vaccines train the immune system?",
             "What should I pack for a week of hiking in the Alps?"]  # fmt: skip


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, vllm_server):
    data_dir = tmp_path_factory.mktemp("imports") / "data"
    with serving_on(data_dir, vllm_server.base_url, default_dataset=False) as running:
        yield running


def post_import(server: Server, dataset_id: str, body: bytes, **params: str) -> dict:
    response = httpx.post(f"{server.url}/v1/datasets/{dataset_id}/imports", params=params, content=body,
                          headers={"content-type": "application/x-ndjson"}, timeout=120)  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()


def test_two_sources_merge_get_answered_and_mix_into_a_snapshot(server: Server) -> None:
    dataset_id = httpx.post(f"{server.url}/v1/datasets", json={"name": "mix"}).json()["id"]
    alpaca = post_import(server, dataset_id, jsonl([{"instruction": t, "input": "", "output": a}
                                                    for t, a in ALPACA.items()]),
                         source="alpaca", license="CC-BY-NC-4.0", url="https://example.org/alpaca.json")  # fmt: skip
    assert (alpaca["layout"], alpaca["added"]) == ("alpaca", 8)
    dolly_rows = [
        *({"instruction": t, "context": "", "response": "Same.", "category": "open_qa"} for t in list(ALPACA)[:3]),
        {"instruction": "Write a short haiku about autumn leaves falling.", "context": "", "response": "Leaves.",
         "category": "creative_writing"},  # a near copy of an Alpaca row
        *({"instruction": t, "context": "", "response": "An answer.", "category": "open_qa"} for t in DOLLY_OWN),
        *({"instruction": t, "context": "", "response": "", "category": "open_qa"} for t in UNANSWERED),
    ]  # fmt: skip
    dolly = post_import(server, dataset_id, jsonl(dolly_rows), source="dolly", license="CC-BY-SA-3.0")
    assert (dolly["layout"], dolly["rows"], dolly["added"], dolly["unanswered"]) == ("dolly", 10, 6, 3)
    overlap = {o["source"]: (o["exact"], o["near"]) for o in dolly["overlap"]}
    assert overlap == {"alpaca": (3, 1)}
    assert dolly["overlap"][0]["summary"].startswith("4 of 10 records duplicate alpaca")

    job = httpx.post(f"{server.url}/v1/jobs", json={"dataset_id": dataset_id, "method": "annotate", "target": 3,
                                                    "annotate": {"targets": "no_answer"}}).json()  # fmt: skip
    done = server.wait_job(job["id"], lambda j: j["status"] in ("succeeded", "failed", "cancelled"), timeout=900)
    assert done["status"] == "succeeded", done
    stages = done["progress"]["stages"]
    assert stages["tasks"] == 3 and stages["answered"] + stages["rejected"] == 3, stages
    records = httpx.get(f"{server.url}/v1/datasets/{dataset_id}/records", params={"source": "dolly"}).json()["items"]
    by_text = {r["instruction"]: r for r in records}
    answered = [by_text[t] for t in UNANSWERED if by_text[t]["instances"]]
    assert len(answered) == stages["answered"] == done["accepted"]
    for record in answered:
        assert record["provenance"]["annotated"]["job"] == job["id"]
        assert record["provenance"]["annotated"]["model"] == "smollm2-135m-instruct"
        assert record["instances"][0]["output"].strip()

    mix = {"sources": {"alpaca": {"weight": 0.5}, "dolly": {"weight": 0.5}}}
    response = httpx.post(f"{server.url}/v1/datasets/{dataset_id}/snapshots",
                          json={"format": "messages", "validation_fraction": 0, "mix": mix}, timeout=60)  # fmt: skip
    assert response.status_code == 201, response.text
    manifest = response.json()["manifest"]
    sources = {s["source"]: s for s in manifest["sources"]}
    assert set(sources) == {"alpaca", "dolly"}
    assert sources["alpaca"]["licenses"] == ["CC-BY-NC-4.0"] and sources["dolly"]["licenses"] == ["CC-BY-SA-3.0"]
    warnings = {w["code"] for w in manifest["licence_warnings"]}
    assert {"non_commercial", "share_alike_non_commercial"} <= warnings, manifest["licence_warnings"]
    dolly_tasks = 3 + len(answered)  # the answered instruction-only rows are in; unanswered ones never are
    achieved = {entry["name"]: entry for entry in manifest["mix"]["sources"]}
    assert achieved["dolly"]["tasks"] == dolly_tasks and achieved["alpaca"]["tasks"] == dolly_tasks
    assert achieved["alpaca"]["share"] == achieved["dolly"]["share"] == 0.5
    assert achieved["alpaca"]["requested_share"] == 0.5
    assert sources["dolly"]["tasks"] == dolly_tasks and sources["alpaca"]["tasks"] == dolly_tasks
    # The figures of the run, for the closing note (`pytest -s` shows them).
    print("\noverlap:", [o["summary"] for o in dolly["overlap"]], "\nannotate:", stages, done["rejections_by_reason"],
          "\nanswers:", [(r["instruction"], r["instances"][0]["output"][:80]) for r in answered],
          "\nmix:", [(e["name"], e["requested_share"], e["tasks"], e["share"]) for e in manifest["mix"]["sources"]],
          "\nsources:", [(s["source"], s["licenses"], s["tasks"]) for s in manifest["sources"]],
          "\nwarnings:", [w["code"] for w in manifest["licence_warnings"]])
