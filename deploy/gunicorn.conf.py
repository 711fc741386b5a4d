"""Example gunicorn settings: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`."""

import multiprocessing
import os
import pathlib

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("WEB_THREADS", "2"))
timeout = 30
graceful_timeout = 30  # SIGTERM: finish in-flight requests for up to 30 s
keepalive = 5
max_requests = 2000  # recycle workers now and then
max_requests_jitter = 200
accesslog = "-"
# gunicorn's default format logs the Basic-auth user (%(u)s), which on /v1/* is a write key.
access_log_format = '%(h)s - - %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The scheduler never runs inside web workers in production: it is its own process.
raw_env = ["SCHEDULER_ENABLED=0"]

# Request counts from every worker: prometheus_client's multiprocess mode keeps one file per
# worker in PROMETHEUS_MULTIPROC_DIR (the systemd unit sets it) and /metrics sums them.
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def on_starting(server) -> None:
    """Create PROMETHEUS_MULTIPROC_DIR empty: a previous run's files would add to the counts."""
    directory = os.environ.get(MULTIPROC_DIR)
    if not directory:
        if workers > 1:
            server.log.warning("%s is not set: /metrics shows one worker's requests", MULTIPROC_DIR)
        return
    path = pathlib.Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def child_exit(server, worker) -> None:
    """Tell prometheus_client a worker is gone (its counts stay in the sums)."""
    if os.environ.get(MULTIPROC_DIR):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
