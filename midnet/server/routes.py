"""The routes: the page, and the JSON API it uses (any script can do what the page does)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse

from ..errors import MidnetError
from . import files, schemas
from .config import ServerConfig
from .intake import accept, new_id
from .store import JobStore
from .worker import Worker
from .zipping import client_zip

_CLIENT = r"^[A-Za-z0-9_-]{16,64}$"


@dataclass
class Server:
    config: ServerConfig
    data: Path
    store: JobStore
    restoration: object
    worker: Worker


page_router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api")


def _server(request: Request) -> Server:
    return request.app.state.server


@page_router.get("/", response_class=HTMLResponse)
def page() -> HTMLResponse:
    return HTMLResponse((resources.files("midnet.server") / "static" / "index.html").read_text(encoding="utf-8"))


@api_router.get("/status", response_model=schemas.Status)
def status(request: Request):
    """How busy the server is, and what it restores with."""
    s = _server(request)
    counts = s.store.counts()
    return {"queued": counts.get("queued", 0), "running": counts.get("running", 0), "queue_size": s.config.queue_size,
            "max_upload_bytes": s.config.max_upload_bytes, "retention_hours": s.config.retention_hours,
            "restorer": s.restoration.describe()}


@api_router.post("/clients", response_model=schemas.Client, status_code=201)
def new_client():
    """A new client id: a browser keeps one, so that it finds its jobs again after a reload."""
    return {"client": new_id()}


@api_router.post("/jobs", response_model=schemas.Job, status_code=201,
                 responses={413: {"description": "upload too large"}, 422: {"description": "not a micrograph "
                            "midnet reads (the message says why)"}, 503: {"description": "the queue is full"}})
def upload(request: Request, file: UploadFile = File(...), client: str = Form(..., pattern=_CLIENT)):
    """Upload one micrograph (TIFF 8/16-bit or float, multi-page, PNG, JPEG, BMP): scored and queued at once."""
    s = _server(request)
    counts = s.store.counts()
    waiting = counts.get("queued", 0) + counts.get("running", 0)
    if waiting >= s.config.queue_size:
        raise HTTPException(503, f"the queue is full ({waiting} files waiting); try again when some are done")
    try:
        job_id = accept(s.store, s.data, client, file.filename, file.file)
    except MidnetError as exc:
        raise HTTPException(422, str(exc)) from None
    s.worker.wake()
    return _job_out(s, s.store.get(job_id))


@api_router.get("/jobs", response_model=list[schemas.Job])
def list_jobs(request: Request, client: str = Query(..., pattern=_CLIENT)):
    """The jobs of one client, oldest first."""
    s = _server(request)
    return [_job_out(s, job) for job in s.store.for_client(client)]


@api_router.get("/jobs/{job_id}", response_model=schemas.Job)
def get_job(request: Request, job_id: str):
    s = _server(request)
    return _job_out(s, _find(s, job_id))


@api_router.post("/jobs/{job_id}/cancel", response_model=schemas.Cancelled)
def cancel(request: Request, job_id: str):
    """Cancel a job: a queued one at once, a running one at its next tile (a job already finished stays as it is)."""
    s = _server(request)
    _find(s, job_id)
    return {"id": job_id, "state": s.store.cancel(job_id)}


@api_router.get("/jobs/{job_id}/preview/{kind}", response_class=FileResponse,
                responses={200: {"content": {"image/png": {}}}})
def preview(request: Request, job_id: str, kind: str):
    """An 8-bit PNG of the first frame at full resolution: ``input``, or ``result`` once restored."""
    s = _server(request)
    job = _find(s, job_id)
    if kind not in files.PREVIEWS:
        raise HTTPException(404, "previews are 'input' and 'result'")
    if kind == "result" and job["state"] != "done":
        raise HTTPException(409, f"{job['name']} is {job['state']}; its result is not ready")
    return FileResponse(files.preview_path(s.data, job_id, kind), media_type="image/png")


@api_router.get("/jobs/{job_id}/result", response_class=FileResponse)
def result(request: Request, job_id: str):
    """The restored file, as `midnet deblur` writes it (the input's format, dtype, metadata, and provenance)."""
    s = _server(request)
    job = _find(s, job_id)
    if job["state"] != "done":
        raise HTTPException(409, f"{job['name']} is {job['state']}; its result is not ready")
    return FileResponse(files.result_path(s.data, job_id, job["ext"]), filename=download_name(job["name"]),
                        media_type="application/octet-stream")


@api_router.get("/clients/{client}/results.zip", response_class=FileResponse)
def results_zip(request: Request, client: str):
    """Every restored file of one client in one zip (stored, not recompressed)."""
    s = _server(request)
    if not re.fullmatch(_CLIENT, client):
        raise HTTPException(404, "no such client")
    done = [j for j in s.store.for_client(client) if j["state"] == "done"]
    if not done:
        raise HTTPException(404, "nothing restored yet for this client")
    path, cleanup = client_zip(s.data, done, download_name)
    return FileResponse(path, filename="midnet-results.zip", media_type="application/zip", background=cleanup)


def download_name(name: str) -> str:
    """The result's file name: the upload's with _restored, so that it does not replace the original in a
    downloads folder."""
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}_restored.{suffix}" if dot else f"{name}_restored"


def _find(s: Server, job_id: str) -> dict:
    job = s.store.get(job_id) if files.valid_id(job_id) else None
    if job is None:
        raise HTTPException(404, f"no such job (finished jobs are kept {s.config.retention_hours:g} hours)")
    return job


def _job_out(s: Server, job: dict) -> dict:
    base = f"api/jobs/{job['id']}"
    done = job["state"] == "done"
    info = job["info"]
    return {
        "id": job["id"], "name": job["name"], "state": job["state"], "message": job["message"],
        "ahead": s.store.ahead_of(job["seq"]) if job["state"] == "queued" else None,
        "progress": s.worker.progress(job["id"]) if job["state"] == "running" else None,
        **{k: info[k] for k in ("width", "height", "pages", "channels", "dtype", "bytes", "score")},
        "created": job["created"], "finished": job["finished"],
        "input_preview": f"{base}/preview/input", "result_preview": f"{base}/preview/result" if done else None,
        "result": f"{base}/result" if done else None,
    }
