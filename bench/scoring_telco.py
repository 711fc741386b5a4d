"""Validate the scoring models on the IBM Telco Customer Churn data (7,043 customers).

Downloads the `apd-crs` wheel (which ships the CSV) with `pip download --no-deps` into a temporary
folder, extracts `apd_crs/datasets/Telco-Customer-Churn.csv`, and runs
`flask --app wsgi scoring evaluate` on it twice: with TotalCharges (roughly tenure x
MonthlyCharges, so it leaks the duration) and without it. Nothing is kept afterwards.

    .venv/bin/python bench/scoring_telco.py [--json]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "apd-crs==0.1.0"
MEMBER = "apd_crs/datasets/Telco-Customer-Churn.csv"
ROOT = Path(__file__).resolve().parent.parent


def fetch_csv(folder: Path) -> Path:
    subprocess.run(  # noqa: S603 - fixed arguments, no outside input
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", str(folder)],
        check=True,
    )
    wheel = next(folder.glob("apd_crs-*.whl"))
    target = folder / "telco.csv"
    with zipfile.ZipFile(wheel) as archive:
        target.write_bytes(archive.read(MEMBER))
    return target


def evaluate(csv: Path, instance: Path, extra: list[str]) -> str:
    command = [
        str(Path(sys.executable).with_name("flask")),
        "--app",
        "wsgi",
        "scoring",
        "evaluate",
        str(csv),
        "--id-col",
        "customerID",
        "--duration-col",
        "tenure",
        "--event-col",
        "Churn",
        *extra,
    ]
    env = os.environ | {"INSTANCE_PATH": str(instance), "DATABASE_URL": ""}
    result = subprocess.run(  # noqa: S603 - fixed arguments, no outside input
        command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise SystemExit(result.stderr or result.stdout)
    return result.stdout


def main() -> None:
    as_json = ["--json"] if "--json" in sys.argv else []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv = fetch_csv(folder)
        for title, extra in (
            ("With TotalCharges (leaks tenure)", []),
            ("Without TotalCharges", ["--drop", "TotalCharges"]),
        ):
            print(f"== {title} ==")
            print(evaluate(csv, folder / "instance", [*extra, *as_json]))


if __name__ == "__main__":
    main()
