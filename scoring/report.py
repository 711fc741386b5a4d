"""The evaluate report as one self-contained HTML page: tables plus PNG pictures embedded as
base64, so the page can be mailed or attached as a single file. Every text from the user's CSV
(column names) goes through Jinja's autoescaping; the pictures carry none of it.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from matplotlib.figure import Figure

TEMPLATES = Path(__file__).parent / "templates"
COLOURS = {"low": "#2b8a3e", "middle": "#e67700", "high": "#c92a2a"}


def _png(figure: Figure) -> str:
    """The figure as a base64 PNG for an <img src="data:..."> attribute."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def calibration_png(calibration: list[dict]) -> str:
    """Predicted against observed churn per decile: on the diagonal is calibrated."""
    figure = Figure(figsize=(4.6, 4.2))
    axes = figure.subplots()
    predicted = [row["predicted"] for row in calibration]
    observed = [row["observed"] for row in calibration]
    top = max([*predicted, *observed, 0.05]) * 1.05
    axes.plot([0, top], [0, top], color="#999", linestyle=":", label="perfectly calibrated")
    axes.plot(predicted, observed, marker="o", color="#1864ab", label="health model")
    axes.set(xlabel="predicted churn (decile mean)", ylabel="observed churn", xlim=(0, top))
    axes.set_ylim(0, top)
    axes.legend(loc="upper left")
    return _png(figure)


def risk_groups_png(groups: list[dict]) -> str:
    """Kaplan-Meier of each predicted-risk tertile (solid) beside the model's mean curve for
    it (dashed): the closer, the better the curves are calibrated."""
    figure = Figure(figsize=(6.2, 4.2))
    axes = figure.subplots()
    for group in groups:
        colour = COLOURS[group["group"]]
        label = f"{group['group']} risk ({group['rows']})"
        axes.step(group["months"], group["kaplan_meier"], where="post", color=colour, label=label)
        axes.plot(group["months"], group["model"], color=colour, linestyle="--")
    axes.set(xlabel="months", ylabel="share still a customer", ylim=(0, 1.02))
    axes.legend(title="solid: Kaplan-Meier, dashed: model", loc="lower left")
    return _png(figure)


def candidates_png(rows: list[dict], score: str, chosen: str, title: str) -> str:
    """Each candidate's inner cross-validation score, the chosen one in a strong colour."""
    scored = [row for row in rows if row[score] is not None]
    figure = Figure(figsize=(5.6, 0.45 * len(scored) + 1.2))
    axes = figure.subplots()
    names = [row["name"] for row in scored]
    values = [row[score] for row in scored]
    colours = ["#1864ab" if name == chosen else "#a5d8ff" for name in names]
    axes.barh(names, values, color=colours)
    low = min(values)
    axes.set_xlim(max(0.0, low - 0.05), max(values) + 0.01)
    axes.invert_yaxis()
    axes.set(title=title, xlabel=score)
    return _png(figure)


def render_html(report: dict) -> str:
    """The whole page."""
    hold = report["holdout"]
    health, survival = hold["health"]["summary"], hold["survival"]["summary"]
    images = {
        "calibration": calibration_png(hold["health"]["calibration"]),
        "risk_groups": risk_groups_png(hold["survival"]["risk_groups"]),
        "health_candidates": candidates_png(
            health["candidates"], "auc_cv", health["chosen"], "Health model candidates"
        ),
        "survival_candidates": candidates_png(
            survival["candidates"], "c_index_cv", survival["chosen"], "Survival model candidates"
        ),
    }
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True)
    )
    template = environment.get_template("scoring/evaluate_report.html")
    return template.render(report=report, images=images)
