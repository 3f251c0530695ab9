"""A typed Python client for the InstructForge API over httpx, decoding answers into the API's own Structs.

    from service.client import Client
    with Client("http://127.0.0.1:8000") as client:
        dataset = client.datasets.create("demo")
        client.seeds.upload(dataset.id, Path("seeds.jsonl"))
        job = client.jobs.create(JobSpec(dataset_id=dataset.id, target=50))
        done = client.jobs.wait(job.id, on_update=print)   # follows the job's events, or polls
        client.snapshots.pull(client.snapshots.create(dataset.id).id, "snap/")  # every SHA-256 checked

Errors (service.client.errors): ClientError > APIError (the service's error body), UnreachableError,
IntegrityError (a download that does not match its SHA-256).
"""

from service.client.client import Client
from service.client.errors import APIError, ClientError, IntegrityError, UnreachableError
from service.client.files import ExportResult, PullResult

__all__ = ["APIError", "Client", "ClientError", "ExportResult", "IntegrityError", "PullResult", "UnreachableError"]
