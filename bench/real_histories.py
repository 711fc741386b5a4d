"""Validate the scoring models on real and realistic churn histories that ship inside PyPI
packages, fetched at run time into a temporary folder and never kept:

- IBM Telco Customer Churn (7,043 customers, tenure in months), from the `apd-crs` wheel;
  TotalCharges is left out: it is about tenure x MonthlyCharges, so it leaks the duration;
- a SaaS churn history (2,000 customers, months active) from the `pysurvival` sdist;
- the HR employee-attrition history (14,999 employees, years at the company), same sdist.

For each it runs `scoring.evaluate.evaluate` (held-out split plus k-fold, fixed seed) and
prints the candidates of both models, what won and why, the product against its baselines
(health model vs logistic regression on AUC, chosen survival model vs a penalised Cox on
C-index) and the training time. The rule: the product must match or beat each baseline on the
held-out split, or the report says which is better.

    .venv/bin/python bench/real_histories.py [--folds 3] [--only telco] [--html-dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring.evaluate import evaluate
from scoring.report import render_html

PYSURVIVAL = "pysurvival==0.1.2"


@dataclass(frozen=True)
class DataSet:
    name: str
    fetch: Callable[[Path], pd.DataFrame]
    options: dict
    drop: tuple[str, ...] = field(default=())
    source: str = ""


def _pip(*args: str, env: dict | None = None) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args]
    subprocess.run(command, check=True, env=env)  # noqa: S603 - fixed arguments


def _telco(folder: Path) -> pd.DataFrame:
    _pip("download", "--no-deps", "apd-crs==0.1.0", "-d", str(folder))
    with zipfile.ZipFile(next(folder.glob("apd_crs-*.whl"))) as archive:
        raw = archive.open("apd_crs/datasets/Telco-Customer-Churn.csv")
        return pd.read_csv(raw)


def _pysurvival(folder: Path, member: str) -> pd.DataFrame:
    """The sdist holds the CSVs; pip needs `wheel` to read its (setup.py) metadata."""
    sdist = next(folder.glob("pysurvival-*.tar.gz"), None)
    if sdist is None:
        tools = folder / "tools"
        _pip("install", "--target", str(tools), "wheel")
        env = os.environ | {"PYTHONPATH": str(tools)}
        _pip(
            "download", "--no-deps", "--no-build-isolation", PYSURVIVAL, "-d", str(folder), env=env
        )
        sdist = next(folder.glob("pysurvival-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        raw = archive.extractfile(
            f"{sdist.name.removesuffix('.tar.gz')}/pysurvival/datasets/{member}"
        )
        return pd.read_csv(raw)


DATA_SETS = (
    DataSet(
        "telco",
        _telco,
        {"id_col": "customerID", "duration_col": "tenure", "event_col": "Churn"},
        drop=("TotalCharges",),
        source="apd-crs 0.1.0: apd_crs/datasets/Telco-Customer-Churn.csv",
    ),
    DataSet(
        "saas",
        lambda folder: _pysurvival(folder, "churn.csv"),
        {"duration_col": "months_active", "event_col": "churned"},
        source=f"{PYSURVIVAL}: pysurvival/datasets/churn.csv",
    ),
    DataSet(
        "employees",
        lambda folder: _pysurvival(folder, "employee_attrition.csv"),
        {"duration_col": "time_spend_company", "event_col": "left", "unit": "years"},
        source=f"{PYSURVIVAL}: pysurvival/datasets/employee_attrition.csv",
    ),
)


def summary(name: str, source: str, report: dict, seconds: float) -> str:
    """Candidates, winners, the product against its baselines and the time, as text."""
    hold, kfold = report["holdout"], report["kfold"]
    health, survival = hold["health"], hold["survival"]
    mark = report["landmark"]
    lines = [
        f"== {name}: {report['rows']} rows, {report['events']} churned ({source})",
        f"classifier question: churned within {mark['horizon_months']:g} months of month "
        f"{mark['start_months']:g} ({mark['rows_labelled']} labelled); duration AUC alone "
        f"{report['leakage']['duration_auc']:.3f}",
        f"{'health candidate':<32}{'AUC cv':>8}{'logloss':>9}{'s':>7}",
        *(
            f"{r['name']:<32}{r['auc_cv']:>8.4f}{r['logloss_cv']:>9.4f}{r['seconds']:>7.1f}"
            for r in health["summary"]["candidates"]
        ),
        f"  won: {health['summary']['chosen']} ({health['summary']['learner']})",
        f"{'survival candidate':<32}{'C cv':>8}{'s':>7}",
        *(
            f"{r['name']:<32}{_c(r['c_index_cv']):>8}{r['seconds']:>7.1f}"
            for r in survival["summary"]["candidates"]
        ),
        f"  won: {survival['summary']['chosen']}",
        f"{'':<32}{'held-out':>9}{'k-fold':>8}{'fit s':>7}",
        *(
            _row(name, part[side][metric], kfold[spread], part["seconds"][side])
            for name, part, side, metric, spread in (
                ("health product AUC", health, "product", "auc", "product_auc"),
                ("logistic baseline AUC", health, "logistic", "auc", "logistic_auc"),
                ("survival product C", survival, "product", "c_index", "survival_c_index"),
                ("Cox penalizer=0.1 C", survival, "cox", "c_index", "cox_c_index"),
            )
        ),
        *report["verdicts"],
        f"total wall time {seconds:.0f} s",
    ]
    return "\n".join(lines)


def _c(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _row(name: str, held: float, spread: dict, seconds: float) -> str:
    return f"{name:<32}{held:>9.4f}{spread['mean']:>8.4f}{seconds:>7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--only", choices=[d.name for d in DATA_SETS], action="append")
    parser.add_argument("--html-dir", type=Path)
    parser.add_argument("--json", action="store_true", help="print the full reports as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for data in DATA_SETS:
            if args.only and data.name not in args.only:
                continue
            frame = data.fetch(Path(tmp)).drop(columns=list(data.drop))
            started = time.perf_counter()
            report = evaluate(frame, folds=args.folds, **data.options)
            seconds = time.perf_counter() - started
            if args.html_dir:
                args.html_dir.mkdir(parents=True, exist_ok=True)
                (args.html_dir / f"{data.name}.html").write_text(render_html(report), "utf-8")
            print(
                json.dumps(report)
                if args.json
                else summary(data.name, data.source, report, seconds)
            )
            print(flush=True)


if __name__ == "__main__":
    main()
