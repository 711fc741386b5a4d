"""Churn risk over time: a penalised Cox model (lifelines), checked for proportional hazards;
stratified on a categorical column that breaks the assumption, or a Weibull AFT model when a
numeric one does. Pure: DataFrames in, probabilities out; no Flask, no database.

Durations are in months. Rows may start late (`entries`, the tenure when the row's features were
taken), which turns monthly snapshots into a counting-process, time-varying-covariate fit.
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, WeibullAFTFitter
from lifelines.exceptions import ConvergenceWarning, StatisticalWarning
from lifelines.statistics import proportional_hazard_test
from lifelines.utils import concordance_index

from scoring.encoding import FeatureEncoder, FeatureError

DEFAULT_PENALIZER = 0.05
HORIZON_MONTHS = 60.0
GRID_STEP_MONTHS = 0.5
CURVE_POINTS = tuple(range(0, 25, 3))  # months shown on the account page
MONTH_DAYS = 30.4375
PH_ALPHA = 0.01  # per-test level before the Bonferroni correction
MIN_DURATION = 1.0 / MONTH_DAYS
MAX_PH_ROWS = 10_000
MAX_AFT_ROWS = 30_000
SAMPLE_SEED = 7
_DURATION, _EVENT, _ENTRY = "_duration", "_event", "_entry"


@dataclass
class SurvivalModel:
    encoder: FeatureEncoder
    fitter: CoxPHFitter | WeibullAFTFitter
    kind: str  # "cox", "cox_strata" or "weibull_aft"
    columns: list[str]
    strata: list[str] = field(default_factory=list)
    ph_violations: list[str] = field(default_factory=list)

    @classmethod
    def fit(
        cls,
        features: pd.DataFrame,
        durations: pd.Series,
        events: pd.Series,
        entries: pd.Series | None = None,
        *,
        penalizer: float = DEFAULT_PENALIZER,
        strict: bool = False,
    ) -> SurvivalModel:
        """Fit Cox, test proportional hazards, and refit stratified or as Weibull AFT if needed."""
        encoder = FeatureEncoder.fit(features, strict=strict)
        design = encoder.transform(features, impute=True)
        columns = [c for c in design.columns if design[c].std() > 0]
        frame = _with_outcome(design[columns], durations, events, entries)
        cox = _fit_cox(frame, penalizer, strata=None)
        violations = _ph_violations(cox, frame, penalizer)
        model = cls(encoder, cox, "cox", columns, ph_violations=violations)
        if not violations:
            return model
        sources = {encoder.source_of(c) for c in violations}
        if sources <= set(encoder.categories):
            return model._refit_stratified(frame, sorted(sources), penalizer)
        return cls(encoder, _fit_aft(frame, penalizer), "weibull_aft", columns, [], violations)

    def _refit_stratified(
        self, frame: pd.DataFrame, sources: list[str], penalizer: float
    ) -> SurvivalModel:
        columns = [c for c in self.columns if self.encoder.source_of(c) not in sources]
        strat = frame[[*columns, *_outcome_columns(frame)]].copy()
        for source in sources:
            strat[source] = _strata_codes(frame, source)
        cox = _fit_cox(strat, penalizer, strata=sources)
        return SurvivalModel(
            self.encoder, cox, "cox_strata", columns, sources, list(self.ph_violations)
        )

    def design(self, features: pd.DataFrame) -> pd.DataFrame:
        """The model's covariates for `features` (imputed, one-hot, strata codes)."""
        encoded = self.encoder.transform(features, impute=True)
        frame = encoded[self.columns].copy()
        for source in self.strata:
            frame[source] = _strata_codes(encoded, source)
        return frame

    def survival(self, features: pd.DataFrame, tenure_months: pd.Series) -> pd.DataFrame:
        """S(t | alive at current tenure) on a month grid: rows = accounts, columns = months."""
        grid = np.arange(0.0, HORIZON_MONTHS + GRID_STEP_MONTHS, GRID_STEP_MONTHS)
        tenure = np.clip(np.asarray(tenure_months, dtype=float), 0.0, None)
        curves = self.fitter.predict_survival_function(
            self.design(features), times=grid, conditional_after=tenure
        )
        return pd.DataFrame(curves.to_numpy().T, index=features.index, columns=grid)

    def predict(
        self,
        features: pd.DataFrame,
        tenure_months: pd.Series,
        months_to_renewal: pd.Series,
    ) -> pd.DataFrame:
        """P(churn before renewal), P(churn within 90 days), expected remaining months (restricted
        to the 5-year horizon) and the curve's points for each account."""
        curves = self.survival(features, tenure_months)
        grid = curves.columns.to_numpy(float)
        matrix = np.clip(curves.to_numpy(float), 0.0, 1.0)
        renewal = np.clip(np.asarray(months_to_renewal, dtype=float), 0.0, HORIZON_MONTHS)
        points = [matrix[:, round(m / GRID_STEP_MONTHS)] for m in CURVE_POINTS]
        curve = np.round(np.column_stack(points), 4)
        return pd.DataFrame(
            {
                "p_churn_before_renewal": np.round(1 - _at(matrix, grid, renewal), 4),
                "p_churn_90d": np.round(1 - _at(matrix, grid, 90 / MONTH_DAYS), 4),
                "expected_remaining_months": np.round(np.trapezoid(matrix, grid, axis=1), 2),
                "survival_curve": [
                    [[m, s] for m, s in zip(CURVE_POINTS, row, strict=True)]
                    for row in curve.tolist()
                ],
            },
            index=features.index,
        )

    def time_scores(self, features: pd.DataFrame) -> np.ndarray:
        """Higher = expected to stay longer (for the concordance index)."""
        design = self.design(features)
        if self.kind == "weibull_aft":
            return np.asarray(self.fitter.predict_median(design), dtype=float).ravel()
        return -np.asarray(self.fitter.predict_partial_hazard(design), dtype=float).ravel()

    def concordance(self, features: pd.DataFrame, durations: pd.Series, events: pd.Series) -> float:
        """Harrell's C-index of the model on these rows."""
        return float(concordance_index(durations, self.time_scores(features), events))

    def summary(self) -> dict:
        """What the registry keeps about the fit."""
        return {
            "kind": self.kind,
            "strata": self.strata,
            "ph_violations": self.ph_violations,
            "penalizer": float(self.fitter.penalizer),
        }

    def to_bytes(self) -> bytes:
        return pickle.dumps(self)

    @classmethod
    def from_bytes(cls, artifact: bytes) -> SurvivalModel:
        # Written by this module into our own database, never taken from users.
        return pickle.loads(artifact)  # noqa: S301


def _at(matrix: np.ndarray, grid: np.ndarray, months: np.ndarray | float) -> np.ndarray:
    """Each row's survival at its own month value (linear between grid points)."""
    position = np.clip(np.asarray(months, dtype=float) / GRID_STEP_MONTHS, 0, len(grid) - 1)
    position = np.broadcast_to(position, (matrix.shape[0],))
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(grid) - 1)
    weight = position - low
    rows = np.arange(matrix.shape[0])
    return matrix[rows, low] * (1 - weight) + matrix[rows, high] * weight


def _with_outcome(
    design: pd.DataFrame, durations: pd.Series, events: pd.Series, entries: pd.Series | None
) -> pd.DataFrame:
    frame = design.copy()
    frame[_DURATION] = np.clip(np.asarray(durations, dtype=float), MIN_DURATION, None)
    frame[_EVENT] = np.asarray(events, dtype=int)
    if entries is not None:
        frame[_ENTRY] = np.minimum(np.asarray(entries, dtype=float), frame[_DURATION] - 1e-6)
    if frame[_EVENT].sum() == 0:
        raise FeatureError("no churn events: the survival model needs some churned accounts")
    return frame


def _outcome_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in (_DURATION, _EVENT, _ENTRY) if c in frame.columns]


def _entry_or_none(frame: pd.DataFrame) -> str | None:
    return _ENTRY if _ENTRY in frame.columns else None


def _fit_cox(frame: pd.DataFrame, penalizer: float, strata: list[str] | None) -> CoxPHFitter:
    cox = CoxPHFitter(penalizer=penalizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cox.fit(frame, _DURATION, _EVENT, entry_col=_entry_or_none(frame), strata=strata)
    if _ENTRY in frame.columns:
        _rebase_on_late_entries(cox, frame, strata or [])
    return cox


def _rebase_on_late_entries(cox: CoxPHFitter, frame: pd.DataFrame, strata: list[str]) -> None:
    """Recompute the Breslow baseline hazard with the risk sets of late entries.

    lifelines fits the coefficients with `entry_col` but computes the baseline hazard as if
    every row were at risk from time 0 (lifelines issue #1416): with monthly snapshot rows
    each account is counted once per snapshot in every risk set, and every predicted
    probability comes out many times too low. Here a row is at risk at t when entry < t <= stop.
    """
    inner = cox._model  # the fitted SemiParametricPHFitter that holds the baseline
    rows = pd.DataFrame(
        {
            "hazard": np.asarray(cox.predict_partial_hazard(frame), dtype=float).ravel(),
            "stop": frame[_DURATION].to_numpy(float),
            "entry": frame[_ENTRY].to_numpy(float),
            "event": frame[_EVENT].to_numpy(float),
        }
    )
    times = inner.baseline_hazard_.index.to_numpy(float)
    if strata:
        rows[strata] = frame[strata].to_numpy()
        groups = dict(list(rows.groupby(strata)))
        hazard = pd.DataFrame(
            {name: _breslow(times, groups[name]) for name in inner.baseline_hazard_.columns},
            index=inner.baseline_hazard_.index,
        )
    else:
        hazard = pd.DataFrame(
            {"baseline hazard": _breslow(times, rows)}, index=inner.baseline_hazard_.index
        )
    inner.baseline_hazard_ = hazard
    inner.baseline_cumulative_hazard_ = inner._compute_baseline_cumulative_hazard(hazard)
    inner.baseline_survival_ = inner._compute_baseline_survival()


def _breslow(times: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
    """Breslow's baseline hazard at `times`: events at t over the summed partial hazards of the
    rows at risk at t (entry < t <= stop)."""
    stops, entries = np.sort(rows["stop"].to_numpy()), np.sort(rows["entry"].to_numpy())
    by_stop = rows.sort_values("stop")["hazard"].to_numpy().cumsum()
    by_entry = rows.sort_values("entry")["hazard"].to_numpy().cumsum()
    ended = np.concatenate([[0.0], by_stop])[np.searchsorted(stops, times, side="left")]
    entered = np.concatenate([[0.0], by_entry])[np.searchsorted(entries, times, side="left")]
    at_risk = entered - ended  # entered before t, minus those that also stopped before t
    events = rows.groupby("stop")["event"].sum().reindex(times, fill_value=0.0).to_numpy()
    return np.divide(events, at_risk, out=np.zeros_like(events), where=at_risk > 0)


def _fit_aft(frame: pd.DataFrame, penalizer: float) -> WeibullAFTFitter:
    """Weibull AFT on every churn row and an inverse-probability-weighted sample of the rest
    (lifelines' AFT optimiser is slow on large frames; the weighted sample keeps it unbiased)."""
    kept = frame[_EVENT] == 1
    share = min(1.0, max(MAX_AFT_ROWS - kept.sum(), 1) / max((~kept).sum(), 1))
    rng = np.random.default_rng(SAMPLE_SEED)
    chosen = kept | (rng.random(len(frame)) < share)
    sample = frame[chosen].assign(_weight=np.where(kept[chosen], 1.0, 1.0 / share))
    aft = WeibullAFTFitter(penalizer=penalizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", StatisticalWarning)
        aft.fit(sample, _DURATION, _EVENT, entry_col=_entry_or_none(sample), weights_col="_weight")
    return aft


def _ph_violations(cox: CoxPHFitter, frame: pd.DataFrame, penalizer: float) -> list[str]:
    """Covariates whose Schoenfeld-residual test rejects proportional hazards (what lifelines'
    check_assumptions runs), Bonferroni-corrected over the covariates. lifelines has no residuals
    for late entries, so those rows are checked on a refit without them; large frames on a
    sample (the test is slow, and on huge samples it flags effects too small to matter)."""
    if _ENTRY in frame.columns or len(frame) > MAX_PH_ROWS:
        frame = frame.drop(columns=[_ENTRY], errors="ignore")
        if len(frame) > MAX_PH_ROWS:
            frame = frame.sample(MAX_PH_ROWS, random_state=SAMPLE_SEED)
        cox = _fit_cox(frame, penalizer, strata=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = proportional_hazard_test(cox, frame, time_transform="rank")
    p_values = result.summary["p"]
    limit = PH_ALPHA / max(len(p_values), 1)
    return [str(name) for name, p in p_values.items() if p < limit]


def _strata_codes(encoded: pd.DataFrame, source: str) -> np.ndarray:
    dummies = [c for c in encoded.columns if c.split("=", 1)[0] == source and "=" in c]
    return encoded[dummies].to_numpy().argmax(axis=1)
