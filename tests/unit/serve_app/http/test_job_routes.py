"""Which routes take `Prefer: respond-async`: only those that declare RUNS_AS_JOB, matched as routing does."""

from fastapi import FastAPI

from serve_app.http.job_routes import RUNS_AS_JOB, runs_as_job

app = FastAPI()


@app.post("/v1/graphs/{name}", openapi_extra=RUNS_AS_JOB)
async def graph(name: str) -> dict:
    return {}


@app.post("/v1/jobs/dead-letters/{job_id}/requeue")
async def requeue(job_id: str) -> dict:
    return {}


def scope(path: str, method: str = "POST") -> dict:
    return {"type": "http", "method": method, "path": path, "root_path": "", "app": app, "headers": []}


def test_only_declared_routes_run_as_jobs():
    assert runs_as_job(scope("/v1/graphs/classify"))
    assert not runs_as_job(scope("/v1/jobs/dead-letters/x/requeue"))
    assert not runs_as_job(scope("/V1/GRAPHS/classify"))  # routing is case-sensitive, and so is this
    assert not runs_as_job(scope("/v1/graphs/classify", "GET"))
