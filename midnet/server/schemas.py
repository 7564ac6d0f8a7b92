"""What the JSON API answers, as pydantic models: FastAPI documents them in /openapi.json."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FocusScore(BaseModel):
    blur_px: float | None = Field(description="equivalent Gaussian blur of the first frame, px (None: too flat to judge)")
    confidence: float
    verdict: str = Field(description="sharp, borderline, worth restoring, too blurred or uncertain (as `midnet score`)")


class Job(BaseModel):
    id: str = Field(description="unguessable: whoever has it can read the job and its result")
    name: str = Field(description="the uploaded file's name")
    state: str = Field(description="queued, running, done, failed or cancelled")
    message: str | None = Field(None, description="why it failed, or a note on a restored file")
    ahead: int | None = Field(None, description="jobs of any user that will run before this queued one")
    progress: float | None = Field(None, description="0..1 while running (tiles of the current frame)")
    width: int
    height: int
    pages: int
    channels: int
    dtype: str
    bytes: int
    score: FocusScore | None
    created: float
    finished: float | None = None
    input_preview: str = Field(description="8-bit PNG of the first frame, full resolution")
    result_preview: str | None = Field(None, description="the same of the result, on the input's grey scale")
    result: str | None = Field(None, description="the restored file: the input's format, dtype and metadata, "
                                                 "byte-identical to `midnet deblur`'s")


class Client(BaseModel):
    client: str = Field(description="an id for one browser or script: GET /api/jobs?client=... lists its jobs")


class Status(BaseModel):
    queued: int
    running: int
    queue_size: int
    max_upload_bytes: int
    retention_hours: float
    restorer: dict


class Cancelled(BaseModel):
    id: str
    state: str
