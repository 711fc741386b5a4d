"""The floor of the API's single read, for bench/api_reads.py: plain Flask and one psycopg query
per request that checks the key (its hash, not revoked, holding read:scores) and reads the
account's latest health score. What the product's GET /accounts/{id}/health could cost at least.

    FLOOR_DATABASE_URL=postgresql://... gunicorn --chdir bench api_floor_app:app
"""

from __future__ import annotations

import hashlib
import os
import threading

import psycopg
from flask import Flask, abort, request
from psycopg.rows import dict_row

LATEST_HEALTH = """
SELECT h.account_id, h.scored_on, h.score, h.band, h.method, h.churn_probability, h.drivers
FROM api_keys AS k
JOIN LATERAL (
    SELECT * FROM health_scores WHERE account_id = %(account)s ORDER BY scored_on DESC LIMIT 1
) AS h ON true
WHERE k.key_hash = %(key_hash)s AND k.revoked_at IS NULL AND k.scopes::jsonb ? 'read:scores'
"""

app = Flask(__name__)
_connections: dict[tuple[int, int], psycopg.Connection] = {}


def connection() -> psycopg.Connection:
    """This worker process's and thread's connection (opened after gunicorn forks)."""
    worker = (os.getpid(), threading.get_ident())
    if worker not in _connections:
        _connections[worker] = psycopg.connect(
            os.environ["FLOOR_DATABASE_URL"], autocommit=True, row_factory=dict_row
        )
    return _connections[worker]


@app.get("/ping")
def ping() -> str:
    return "ok"


@app.get("/api/v1/accounts/<int:account_id>/health")
def account_health(account_id: int) -> dict:
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    key_hash = hashlib.sha256(token.encode()).hexdigest()
    row = (
        connection()
        .execute(LATEST_HEALTH, {"account": account_id, "key_hash": key_hash})
        .fetchone()
    )
    if row is None:
        abort(404)
    return {
        **row,
        "scored_on": row["scored_on"].isoformat(),
        "churn_probability": (
            None if row["churn_probability"] is None else float(row["churn_probability"])
        ),
    }
