"""midnet serve's JSON API as a script (or the page) uses it: FastAPI's TestClient over a real data folder."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from midnet.errors import MidnetError

from .conftest import (
    deblur_bytes, micrograph, new_client, pil_bytes, serve, server_of, tiff_bytes, upload, wait_finished,
)

FRAMES = {
    "scan.tif": lambda: tiff_bytes(micrograph(128, dtype=np.uint16)),
    "scan8.png": lambda: pil_bytes(micrograph(96, seed=1, dtype=np.uint8), "PNG"),
    "stack.tif": lambda: tiff_bytes(np.stack([micrograph(96, seed=s) for s in range(3)]), photometric="minisblack"),
    "photo.jpg": lambda: pil_bytes(micrograph(96, seed=2, dtype=np.uint8), "JPEG"),
}


@pytest.mark.parametrize("name", FRAMES)
def test_upload_is_scored_at_once_and_restored_byte_identical_to_deblur(tmp_path, wiener, name):
    content = FRAMES[name]()
    with serve(tmp_path / "data", wiener) as c:
        job = upload(c, new_client(c), name, content)
        assert job["state"] in ("queued", "running") and job["name"] == name
        assert job["score"]["verdict"] in ("sharp", "borderline", "worth restoring", "too blurred", "uncertain")
        assert c.get(job["input_preview"]).headers["content-type"] == "image/png"
        done = wait_finished(c, job["id"])
        assert done["state"] == "done", done["message"]
        got = c.get(done["result"])
        assert got.status_code == 200 and c.get(done["result_preview"]).status_code == 200
    assert f'{name.rsplit(".", 1)[0]}_restored.' in got.headers["content-disposition"]
    assert got.content == deblur_bytes(tmp_path, name, content, "--method", "wiener")


def test_a_network_result_is_byte_identical_to_deblur(tmp_path, tiny, model_file):
    content = tiff_bytes(micrograph(96, seed=3))
    with serve(tmp_path / "data", tiny) as c:
        done = wait_finished(c, upload(c, new_client(c), "a.tif", content)["id"])
        assert done["state"] == "done", done["message"]
        result = c.get(done["result"]).content
    assert result == deblur_bytes(tmp_path, "a.tif", content, "--model", str(model_file), "--engine", "torch",
                                  "--precision", "fp32")


def test_the_default_network_restores_a_small_frame_as_deblur_does(tmp_path):
    """The shipped model through the default path (torch, fp32: engine auto would measure engines for minutes)."""
    from midnet.server.restoring import Restoration
    from midnet.inference.settings import RestoreSettings

    restoration = Restoration(RestoreSettings(engine="torch", precision="fp32"))
    assert restoration.describe()["model"] == "midnet-sem"
    content = tiff_bytes(micrograph(96, seed=4))
    with serve(tmp_path / "data", restoration) as c:
        done = wait_finished(c, upload(c, new_client(c), "sem.tif", content)["id"])
        assert done["state"] == "done", done["message"]
        result = c.get(done["result"]).content
    assert result == deblur_bytes(tmp_path, "sem.tif", content, "--engine", "torch", "--precision", "fp32")


def test_bad_files_get_one_clear_message_and_nothing_else_breaks(tmp_path, wiener):
    with serve(tmp_path / "data", wiener) as c:
        me = new_client(c)
        broken = upload(c, me, "broken.tif", b"II*\x00 this is not a TIFF", status=422)["detail"]
        assert broken.startswith("broken.tif: ") and str(tmp_path) not in broken
        assert "unsupported file type ('.exe')" in upload(c, me, "virus.exe", b"MZ", status=422)["detail"]
        assert "empty" in upload(c, me, "empty.png", b"", status=422)["detail"]
        good = wait_finished(c, upload(c, me, "good.png", FRAMES["scan8.png"]())["id"])
        assert good["state"] == "done"
        assert [j["name"] for j in c.get(f"/api/jobs?client={me}").json()] == ["good.png"]
    assert [p.name for p in (tmp_path / "data" / "jobs").iterdir()] == [good["id"]]  # no trace of the bad ones


def test_pixels_over_the_limit_are_refused_before_decoding(tmp_path, wiener, monkeypatch):
    monkeypatch.setenv("MIDNET_MAX_PIXELS", "1000")
    with serve(tmp_path / "data", wiener, start_worker=False) as c:
        detail = upload(c, new_client(c), "big.tif", tiff_bytes(micrograph(64)), status=422)["detail"]
    assert detail.startswith("big.tif: 64x64 is 4,096 pixels, over the limit of 1,000")


def test_uploads_over_the_size_cap_are_refused_before_parsing(tmp_path, wiener):
    content = tiff_bytes(micrograph(128))  # 32 kB
    with serve(tmp_path / "data", wiener, start_worker=False, max_upload_bytes=8000) as c:
        me = new_client(c)
        r = c.post("/api/jobs", data={"client": me}, files={"file": ("a.tif", content)})
        assert r.status_code == 413 and "at most" in r.json()["detail"]
        body, ctype = _multipart(me, content)

        def chunks():  # no Content-Length: only the cap on the stream can stop it
            for i in range(0, len(body), 1000):
                yield body[i:i + 1000]

        r = c.post("/api/jobs", content=chunks(), headers={"content-type": ctype})
        assert r.status_code == 413 and "at most" in r.json()["detail"]
        assert c.get(f"/api/jobs?client={me}").json() == []
        assert upload(c, me, "small.png", pil_bytes(micrograph(32, dtype=np.uint8), "PNG"))["state"] == "queued"


def _multipart(client_id: str, content: bytes) -> tuple[bytes, str]:
    boundary = "midnetboundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="client"\r\n\r\n{client_id}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.tif"\r\n'
            "Content-Type: image/tiff\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_a_token_is_checked_on_every_request(tmp_path, wiener):
    token = "a-long-enough-secret-token"
    with serve(tmp_path / "data", wiener, start_worker=False, token=token) as c:
        for path in ("/", "/api/status", "/openapi.json", "/static/app.js"):
            assert c.get(path).status_code == 401, path
        assert c.get("/api/status", headers={"Authorization": "Bearer wrong-token-of-some-length"}).status_code == 401
        assert c.get("/api/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        r = c.get(f"/?token={token}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/" and "HttpOnly" in r.headers["set-cookie"]
        assert c.get("/api/status").status_code == 200  # the cookie the redirect set


def test_other_hosts_need_a_long_token(tmp_path):
    from click.testing import CliRunner

    from midnet.cli import cli
    from midnet.server import ServerConfig

    with pytest.raises(MidnetError, match="--token"):
        ServerConfig(data=tmp_path, host="0.0.0.0").checked()
    with pytest.raises(MidnetError, match="at least 16"):
        ServerConfig(data=tmp_path, host="0.0.0.0", token="short").checked()
    assert ServerConfig(data=tmp_path, host="::1").checked().token is None
    done = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--data", str(tmp_path)], obj={}, env={"MIDNET_SERVE_TOKEN": None})
    assert done.exit_code == 1 and done.output.startswith("error: --host 0.0.0.0 lets other machines") and "Traceback" not in done.output


def test_clients_see_only_their_jobs_and_names_never_reach_the_disk(tmp_path, wiener):
    with serve(tmp_path / "data", wiener, start_worker=False) as c:
        alice, bob = new_client(c), new_client(c)
        job = upload(c, alice, "../../etc/passwd.png", FRAMES["scan8.png"]())
        assert job["name"] == "passwd.png" and len(job["id"]) >= 32
        assert c.get(f"/api/jobs?client={bob}").json() == []
        assert [j["id"] for j in c.get(f"/api/jobs?client={alice}").json()] == [job["id"]]
        for bad in ("..%2F..%2Fetc", "not-a-job-id-but-long-enough", "x" * 32):
            assert c.get(f"/api/jobs/{bad}").status_code == 404
        assert c.get("/api/jobs?client=short").status_code == 422
    names = {p.relative_to(tmp_path / "data").as_posix() for p in (tmp_path / "data").rglob("*") if p.is_file()}
    assert names <= {"midnet-serve.sqlite3", "midnet-serve.sqlite3-wal", "midnet-serve.sqlite3-shm",
                     f"jobs/{job['id']}/input.png", f"jobs/{job['id']}/preview-input.png"}


def test_the_queue_says_how_many_are_ahead_cancels_and_is_bounded(tmp_path, wiener):
    content = FRAMES["scan8.png"]()
    with serve(tmp_path / "data", wiener, start_worker=False, queue_size=3) as c:
        me, other = new_client(c), new_client(c)
        first = upload(c, other, "first.png", content)
        mine = [upload(c, me, f"{i}.png", content) for i in range(2)]
        assert [first["ahead"]] + [j["ahead"] for j in mine] == [0, 1, 2]
        refused = upload(c, me, "more.png", content, status=503)["detail"]
        assert "queue is full (3 files waiting)" in refused
        assert c.post(f"/api/jobs/{first['id']}/cancel").json() == {"id": first["id"], "state": "cancelled"}
        assert [j["ahead"] for j in c.get(f"/api/jobs?client={me}").json()] == [0, 1]
        upload(c, me, "now.png", content)  # a place came free
        assert c.get(f"/api/jobs/{first['id']}/result").status_code == 409


def test_a_running_job_can_be_cancelled(tmp_path, model_file):
    import time

    from midnet.server.restoring import Restoration
    from midnet.inference.settings import RestoreSettings

    slow = Restoration(RestoreSettings(model=str(model_file), engine="torch", precision="fp32", tile=32, overlap=8))
    with serve(tmp_path / "data", slow) as c:
        job = upload(c, new_client(c), "big.tif", tiff_bytes(micrograph(768)))
        while c.get(f"/api/jobs/{job['id']}").json()["state"] == "queued":
            time.sleep(0.02)
        assert c.post(f"/api/jobs/{job['id']}/cancel").json()["state"] == "running"  # stops at its next tile
        done = wait_finished(c, job["id"])
    assert done["state"] == "cancelled" and done["result"] is None
    assert not any(p.name.startswith("result") for p in (tmp_path / "data" / "jobs" / job["id"]).iterdir())


def test_a_restart_keeps_finished_results_and_resumes_unfinished_jobs(tmp_path, wiener):
    data, content = tmp_path / "data", FRAMES["scan.tif"]()
    with serve(data, wiener) as c:
        me = new_client(c)
        finished = wait_finished(c, upload(c, me, "done.tif", content)["id"])
        kept = c.get(finished["result"]).content
    with serve(data, wiener, start_worker=False) as c:  # a server that dies with one job running, one queued
        running, queued = (upload(c, me, f"{n}.tif", content)["id"] for n in ("running", "queued"))
        assert server_of(c).store.claim_next()["id"] == running
        (data / "jobs" / ("o" * 32)).mkdir()  # an upload cut off before its row was committed
    with serve(data, wiener) as c:
        assert c.get(f"/api/jobs/{finished['id']}/result").content == kept
        assert all(wait_finished(c, j)["state"] == "done" for j in (running, queued))
        assert c.get(f"/api/jobs/{running}/result").content == kept  # the same frame, the same bytes
    assert not (data / "jobs" / ("o" * 32)).exists()


def test_finished_jobs_expire_after_the_retention(tmp_path, wiener):
    from midnet.server.worker import expire_old

    with serve(tmp_path / "data", wiener, retention_hours=1.0) as c:
        job = wait_finished(c, upload(c, new_client(c), "a.png", FRAMES["scan8.png"]())["id"])
        s = server_of(c)
        assert expire_old(s.store, s.data, 3600) == []  # younger than an hour: kept
        assert expire_old(s.store, s.data, 0) == [job["id"]]
        assert c.get(f"/api/jobs/{job['id']}").status_code == 404
    assert not (tmp_path / "data" / "jobs" / job["id"]).exists()


def test_one_zip_holds_every_result_of_a_client(tmp_path, wiener):
    content = FRAMES["scan8.png"]()
    with serve(tmp_path / "data", wiener) as c:
        me = new_client(c)
        jobs = [upload(c, me, "same.png", content)["id"] for _ in range(2)]
        results = [c.get(wait_finished(c, j)["result"]).content for j in jobs]
        r = c.get(f"/api/clients/{me}/results.zip")
        assert c.get(f"/api/clients/{new_client(c)}/results.zip").status_code == 404
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert zf.namelist() == ["same_restored.png", "same_restored (2).png"]
        assert [zf.read(n) for n in zf.namelist()] == results
    assert list((tmp_path / "data" / "tmp").iterdir()) == []  # the zip was removed once sent


def test_the_api_is_documented_in_openapi(tmp_path, wiener):
    with serve(tmp_path / "data", wiener, start_worker=False) as c:
        spec = c.get("/openapi.json").json()
        page = c.get("/")
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/result", "/api/jobs/{job_id}/cancel",
            "/api/clients/{client}/results.zip", "/api/status"} <= set(spec["paths"])
    assert "ahead" in spec["components"]["schemas"]["Job"]["properties"]
    assert 'src="static/app.js"' in page.text and "http" not in page.text.split("<body>")[1]  # nothing from a CDN
