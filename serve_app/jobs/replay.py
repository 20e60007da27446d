"""Running a job: its stored request replayed through the ingress's own FastAPI app, in-process, so a
job obeys every rule the route has over HTTP (validation, limits, errors as problem+json)."""

import base64

import httpx
from fastapi import FastAPI
from ray.serve.context import _set_request_context

from serve_app.jobs.model import Job, JobResult


async def replay(app: FastAPI, job: Job) -> JobResult:
    """The route's answer to the job's request; the job id is the request id on every log line."""
    _set_request_context(route=job.request.path, request_id=job.id)
    # The app's own error handlers answer every failure; none is raised through to here.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://job", timeout=None) as client:
        response = await client.post(job.request.path, headers={**job.request.headers, "x-request-id": job.id},
                                     content=job.request.body)
    media_type = response.headers.get("content-type", "").split(";")[0] or None
    if media_type and media_type.endswith("json"):
        return JobResult(http_status=response.status_code, media_type=media_type, body=response.json())
    if media_type and media_type.startswith("text/"):  # a stream (SSE) asked for as a job: its whole text
        return JobResult(http_status=response.status_code, media_type=media_type, body=response.text)
    return JobResult(http_status=response.status_code, media_type=media_type,
                     body={"media_type": media_type, "body_base64": base64.b64encode(response.content).decode()})
