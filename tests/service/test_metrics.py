"""`GET /metrics`: Prometheus text that parses, HTTP counters that move, store figures equal to the store's own."""

from __future__ import annotations

import msgspec
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from domain.job_spec import JobProgress, JobSpec
from domain.quality import Judgement
from domain.records import CodeCheck, Instance, NewTask, Rejection
from service.app import create_app
from service.metrics import OTHER_SOURCES, source_labels
from store.code_checks import code_stats
from store.jobs import commit_round, create_job, finish_job, get_job, job_rejections, list_jobs, mark_running
from store.quality import add_judgements, quality_stats, tasks_to_judge
from store.tasks import add_tasks
from tests.service.conftest import assert_error
from tests.store.conftest import task

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests_of(samples: Samples, route: str, status: str, method: str = "GET") -> float:
    key = ("instructforge_http_requests_total", (("method", method), ("route", route), ("status", status)))
    return samples.get(key, 0.0)


def test_a_scrape_parses_and_request_counters_move_by_route_template(client: TestClient, dataset_id: str) -> None:
    before = scrape(client)
    for _ in range(3):
        assert client.get(f"/v1/datasets/{dataset_id}").status_code == 200
    assert client.get("/v1/datasets/ds_missing").status_code == 404
    assert client.get("/no/such/route/42").status_code == 404
    assert client.request("BREW", "/v1/datasets").status_code == 405
    after = scrape(client)
    template = "/v1/datasets/{dataset_id}"
    assert requests_of(after, template, "200") - requests_of(before, template, "200") == 3
    assert requests_of(after, template, "404") - requests_of(before, template, "404") == 1
    assert requests_of(after, "unmatched", "404") - requests_of(before, "unmatched", "404") == 1
    assert requests_of(after, "/metrics", "200") - requests_of(before, "/metrics", "200") == 1
    # a method nobody defines is one label, like a path no route matches: the series stay bounded
    assert any(name == "instructforge_http_requests_total" and dict(labels)["method"] == "other"
               for name, labels in after)  # fmt: skip
    routes = {dict(labels).get("route") for name, labels in after if name.startswith("instructforge_http_")}
    assert not any(dataset_id in str(route) or "42" in str(route) for route in routes)  # no raw paths
    count = ("instructforge_http_request_duration_seconds_count", (("method", "GET"), ("route", template)))
    assert after[count] - before.get(count, 0) == 4  # the histogram times every request, 404s too
    assert after[("instructforge_engine_state", (("state", "not_configured"),))] == 1  # INSTRUCTFORGE_ENGINE=none
    assert after[("instructforge_engine_state", (("state", "ready"),))] == 0


def test_each_app_has_its_own_registry(settings) -> None:
    with TestClient(app=create_app(settings)) as first, TestClient(app=create_app(settings)) as second:
        first.get("/health")
        first.get("/health")
        assert requests_of(scrape(first), "/health", "200") == 2
        assert requests_of(scrape(second), "/health", "200") == 0


def fill_store(store, dataset_id: str) -> dict[str, str]:
    """Jobs in three states, with tasks (one a proven code task), rejections, tokens and judgements."""
    jobs = {name: create_job(store, JobSpec(dataset_id=dataset_id, target=5)) for name in ("a", "b", "c", "d")}
    task = NewTask(instruction="Write a function that adds two numbers.", instances=(Instance(output="def add"),))
    proof = CodeCheck(entry_point="add", solution="def add(a, b): return a + b", tests=("assert add(1, 2) == 3",),
                      status="passed", tests_passed=1, tests_total=1, duration_s=0.1)  # fmt: skip
    coded = NewTask(instruction="Write add, proven.", instances=(Instance(output="def add"),), code=proof)
    rejections = [Rejection(reason="too_short", instruction="Hi."), Rejection(reason="too_short", instruction="Yo."),
                  Rejection(reason="tests_failed", instruction="Broken code.")]  # fmt: skip
    for name, tokens, rate in (("a", 120, 30.5), ("b", 80, 10.0)):
        mark_running(store, jobs[name].id)
        commit_round(store, get_job(store, jobs[name].id), [task] if name == "a" else [coded], rejections,
                     JobProgress(rounds=1, tokens=tokens, tokens_per_s=rate))  # fmt: skip
    finish_job(store, jobs["b"].id, "succeeded", stop_reason="target_reached")
    mark_running(store, jobs["c"].id)
    finish_job(store, jobs["c"].id, "failed", stop_reason="error", error="boom")
    scored = Judgement(outcome="scored", score=4.0, criteria={}, method="token", scale_mass=None,
                       judge_model="judge", template="judge_answer.v1")  # fmt: skip
    unreadable = msgspec.structs.replace(scored, outcome="unreadable", score=None, method=None)
    [(task_id, _)] = tasks_to_judge(store, dataset_id, judge_model="judge", template="t", after=0, limit=1)
    add_judgements(store, dataset_id, None, [(task_id, scored), (task_id, scored), (task_id, unreadable)])
    return {name: job.id for name, job in jobs.items()}


def test_job_rejection_judge_and_sandbox_figures_equal_the_stores(client: TestClient, dataset_id: str) -> None:
    store = client.app.state.store
    client.post(f"/v1/datasets/{dataset_id}/seeds", content=b'{"instruction": "Name a color.", "output": "Red"}\n',
                headers={"content-type": "application/x-ndjson"})  # fmt: skip
    job_ids = fill_store(store, dataset_id)
    samples = scrape(client)

    jobs = list_jobs(store, after=None, limit=100)
    for status in ("queued", "running", "succeeded", "failed", "cancelled"):
        expected = sum(job.status == status for job in jobs)
        assert samples[("instructforge_jobs", (("status", status),))] == expected
    assert samples[("instructforge_jobs", (("status", "queued"),))] == 1
    assert samples[("instructforge_tokens_generated_total", ())] == sum(job.progress.tokens for job in jobs) == 200
    running = sum(job.progress.tokens_per_s for job in jobs if job.status == "running")
    assert samples[("instructforge_running_jobs_tokens_per_second", ())] == running == 30.5

    stats = client.get(f"/v1/datasets/{dataset_id}/stats").json()
    assert samples[("instructforge_candidates_accepted_total", ())] == stats["by_source"]["generated"] == 2
    assert samples[("instructforge_store_tasks", (("source", "seed"),))] == stats["by_source"]["seed"] == 1
    by_reason: dict[str, float] = {}
    for (name, labels), value in samples.items():
        if name == "instructforge_candidates_rejected_total":
            by_reason[dict(labels)["reason"]] = by_reason.get(dict(labels)["reason"], 0) + value
    assert by_reason == stats["rejections_by_reason"] == {"too_short": 4, "tests_failed": 2}
    per_job = job_rejections(store, job_ids["a"])
    stage = ("instructforge_candidates_rejected_total", (("reason", "too_short"), ("stage", "self_instruct")))
    assert samples[stage] == 2 * per_job["too_short"]

    outcomes = quality_stats(store, dataset_id).outcomes
    for outcome in ("scored", "unreadable", "engine_error"):
        assert samples[("instructforge_judgements_total", (("outcome", outcome),))] == outcomes.get(outcome, 0)
    code = code_stats(store, dataset_id)
    assert samples[("instructforge_sandbox_runs_total", (("verdict", "passed"),))] == code.passed == 1
    for verdict, count in code.failures.items():
        assert samples[("instructforge_sandbox_runs_total", (("verdict", verdict),))] == count
    assert samples[("instructforge_store_database_bytes", ())] > 0


def keyed(settings, **server):
    server = msgspec.structs.replace(settings.server, api_keys=("k1",), **server)
    return msgspec.structs.replace(settings, server=server)


def test_metrics_need_a_key_when_keys_are_set(settings) -> None:
    with TestClient(app=create_app(keyed(settings))) as client:
        assert_error(client.get("/metrics"), 401, "unauthorized")
        assert_error(client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
        assert client.get("/health").status_code == 200  # probes stay open
        samples = scrape(client, authorization="Bearer k1")
        assert requests_of(samples, "/metrics", "401") == 2  # refused scrapes are counted too


def test_metrics_public_setting_opens_metrics_only(settings) -> None:
    with TestClient(app=create_app(keyed(settings, metrics_public=True))) as client:
        assert requests_of(scrape(client), "/metrics", "200") == 0  # counted once the answer is sent
        assert_error(client.get("/v1/datasets"), 401, "unauthorized")


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert client.get("/health", headers={"X-Request-ID": "trace-42.a"}).headers["x-request-id"] == "trace-42.a"
    made = client.get("/no/such/route", headers={"X-Request-ID": "bad id\twith spaces"}).headers["x-request-id"]
    assert made != "bad id\twith spaces" and len(made) == 32
    assert client.get("/health").headers["x-request-id"] != client.get("/health").headers["x-request-id"]


def test_source_labels_name_seed_generated_and_the_top_imports_and_lump_the_rest() -> None:
    assert source_labels({}) == {"seed": 0, "generated": 0}
    assert source_labels({"alpaca": 5, "generated": 2}) == {"seed": 0, "generated": 2, "alpaca": 5}
    tasks = {"seed": 1, "generated": 9, "alpaca": 50, "dolly": 40, "oasst": 40, "tiny": 1, "small": 2}
    assert source_labels(tasks, top=2) == {
        "seed": 1, "generated": 9, "alpaca": 50, "dolly": 40, OTHER_SOURCES: 43,  # oasst, small, tiny
    }  # fmt: skip
    assert sum(source_labels(tasks, top=2).values()) == sum(tasks.values())


def test_the_tasks_gauge_covers_import_sources_with_bounded_labels(client: TestClient, dataset_id: str) -> None:
    store = client.app.state.store
    add_tasks(store, dataset_id, [task("Name a color.")], source="seed", stage="test")
    add_tasks(store, dataset_id, [task(f"Alpaca task {n}.") for n in range(3)], source="alpaca", stage="test")
    unanswered = [NewTask(instruction=f"Dolly question {n}?", instances=()) for n in range(2)]
    add_tasks(store, dataset_id, unanswered, source="dolly-15k", stage="test")
    samples = scrape(client)
    gauge = {dict(labels)["source"]: value for (name, labels), value in samples.items()
             if name == "instructforge_store_tasks"}  # fmt: skip
    assert gauge == {"seed": 1, "generated": 0, "alpaca": 3, "dolly-15k": 2}
    assert samples[("instructforge_candidates_accepted_total", ())] == 0  # imports are not accepted candidates

    # 25 more import sources of 1 to 25 tasks: 20 import labels by size, the smallest lumped together
    for n in range(1, 26):
        add_tasks(store, dataset_id, [task(f"Source {n} task {k}.") for k in range(n)], source=f"src-{n:02d}",
                  stage="test")  # fmt: skip
    gauge = {dict(labels)["source"]: value for (name, labels), value in scrape(client).items()
             if name == "instructforge_store_tasks"}  # fmt: skip
    named = [f"src-{n:02d}" for n in range(25, 5, -1)]  # 25 .. 6 tasks; alpaca (3) and dolly-15k (2) fall out
    assert set(gauge) == {"seed", "generated", *named, OTHER_SOURCES}
    assert gauge[OTHER_SOURCES] == 3 + 2 + (1 + 2 + 3 + 4 + 5)
    assert sum(gauge.values()) == 1 + 3 + 2 + sum(range(1, 26))
