"""Request counts under gunicorn: every worker writes into PROMETHEUS_MULTIPROC_DIR and /metrics
sums them; gunicorn's hooks keep that directory right."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from tests.cs_platform.test_prometheus_metrics import sample, scrape

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HEALTHZ = {"method": "GET", "endpoint": "/healthz", "status_class": "2xx"}

# A web worker of its own: the app, in multiprocess mode, answering /healthz N times.
WORKER = """
import sys
from cs_platform import create_app
app = create_app(
    {"SQLALCHEMY_DATABASE_URI": "sqlite://", "SCHEDULER_ENABLED": False}, instance_path=sys.argv[1]
)
client = app.test_client()
for _ in range(int(sys.argv[2])):
    assert client.get("/healthz").status_code == 200
"""


def run_workers(multiproc_dir: Path, tmp_path: Path, requests: list[int]) -> None:
    """Start one real process per entry of `requests`, all at once, and wait for them."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / f"instance{number}"), str(count)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for number, count in enumerate(requests)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr.decode()


def test_metrics_sum_the_requests_of_every_worker_process(client, tmp_path, monkeypatch):
    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()

    run_workers(multiproc_dir, tmp_path, requests=[2, 3])
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(multiproc_dir))
    families = scrape(client)

    assert len(list(multiproc_dir.glob("counter_*.db"))) == 2  # one file per process
    assert sample(families, "cs_http_requests_total", **HEALTHZ) == 5
    assert sample(families, "cs_http_request_duration_seconds_count", endpoint="/healthz") == 5
    assert sample(families, "cs_scoring_runs_total") == 0  # the database figures are still there


def gunicorn_hooks() -> dict:
    return runpy.run_path(str(PROJECT_ROOT / "deploy" / "gunicorn.conf.py"))


def test_gunicorn_starts_with_an_empty_multiprocess_directory(tmp_path, monkeypatch):
    multiproc_dir = tmp_path / "run" / "prometheus"
    multiproc_dir.mkdir(parents=True)
    (multiproc_dir / "counter_4242.db").write_bytes(b"a previous run's counts")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(multiproc_dir))

    gunicorn_hooks()["on_starting"](SimpleNamespace(log=None))

    assert multiproc_dir.is_dir()
    assert list(multiproc_dir.iterdir()) == []


def test_gunicorn_tells_prometheus_client_when_a_worker_dies(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    live_gauge, counts = tmp_path / "gauge_livesum_4242.db", tmp_path / "counter_4242.db"
    live_gauge.write_bytes(b"")
    counts.write_bytes(b"")

    gunicorn_hooks()["child_exit"](None, SimpleNamespace(pid=4242))

    assert not live_gauge.exists()  # a dead worker's live gauges go
    assert counts.exists()  # its counts stay in the sums
