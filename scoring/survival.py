"""Churn risk over time, the survival family chosen by evidence. Pure: DataFrames in,
probabilities out; no Flask, no database.

Durations are in months. Rows may start late (`entries`, the tenure when the row's features were
taken), which turns monthly snapshots into a counting-process, time-varying-covariate fit.

Candidates, in order of preference on a tie (within TIE of the best):

- penalised Cox (lifelines) over PENALIZERS, weakest first: lifelines scales the penalty by the
  row count, and the C-index cannot see shrinkage, so on a tie a stronger penalty would only
  flatten the probabilities. The Breslow baseline is recomputed with late-entry risk sets;
- Weibull and log-logistic AFT (lifelines, left truncation built in);
- stratified Cox on the categorical columns that fail the proportional-hazards test (offered
  only then), with the same penalties;
- XGBoost `survival:cox` with early stopping and a Breslow baseline on its margin. XGBoost has
  no left truncation: on snapshot rows every row would sit in the risk sets from tenure 0, so
  it is offered only when no row starts late (one row per customer, as in `evaluate`).

Each is scored by Harrell's C-index on inner folds that keep a group (an account's snapshots)
in one fold, stratified by event, with a fixed seed. Every family ranks rows the same way: by
restricted mean survival time over the horizon, conditional on the row's entry tenure (a
partial hazard would ignore a stratum's baseline), against the time from entry to stop. The
winner is refitted on every row. The proportional-hazards test is a diagnostic, reported in
`summary()`, and decides only whether a stratified Cox is offered.

Cost: the inner folds use at most MAX_CV_ROWS rows (whole groups sampled), the PH test at most
MAX_PH_ROWS, an AFT fit at most MAX_AFT_ROWS (all churn rows and a weighted sample of the rest).
"""

from __future__ import annotations

import logging
import pickle
import time
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd
import xgboost as xgb
from lifelines import CoxPHFitter, LogLogisticAFTFitter, WeibullAFTFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning, StatisticalWarning
from lifelines.statistics import proportional_hazard_test
from lifelines.utils import concordance_index
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

from scoring.encoding import FeatureEncoder, FeatureError, as_numpy

HORIZON_MONTHS = 60.0
GRID_STEP_MONTHS = 0.5
GRID = np.arange(0.0, HORIZON_MONTHS + GRID_STEP_MONTHS, GRID_STEP_MONTHS)
CURVE_POINTS = tuple(range(0, 25, 3))  # months shown on the account page
MONTH_DAYS = 30.4375
MIN_DURATION = 1.0 / MONTH_DAYS

FAMILIES = ("cox", "weibull_aft", "loglogistic_aft", "cox_strata", "xgb_cox")  # simplest first
PENALIZERS = (0.001, 0.01, 0.1)  # Cox grid, weakest first
AFT_PENALIZER = 0.001  # keeps one-hot columns identifiable; intercepts are not penalised
PH_PENALIZER = 0.001  # numerical stability only
PH_ALPHA = 0.01  # per-test level before the Bonferroni correction
FOLDS = 3
TIE = 0.005  # C-index gap within inner-CV noise: the simpler candidate wins
MAX_CV_ROWS = 8_000  # lifelines' AFT optimiser (autograd) costs ~1 s per 1,000 rows
MAX_PH_ROWS = 10_000
MAX_AFT_ROWS = 8_000
SEED = 7

BOOST_PARAMS: dict[str, Any] = {
    "objective": "survival:cox",
    "eval_metric": "cox-nloglik",
    "eta": 0.05,
    "max_depth": 3,
    "min_child_weight": 5,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "tree_method": "hist",
    "nthread": 1,  # predictable on a shared host
}
MAX_ROUNDS = 500
EARLY_STOPPING = 30
STOPPING_SHARE = 0.2  # of the training groups held back to stop the boosting

_DURATION, _EVENT, _ENTRY, _STRATUM = "_duration", "_event", "_entry", "_stratum"
_OUTCOME = (_DURATION, _EVENT, _ENTRY)
log = logging.getLogger(__name__)
_FIT_ERRORS = (ConvergenceError, ZeroDivisionError, np.linalg.LinAlgError)


class Family(Protocol):
    """A fitted survival family: curves on GRID, conditional on being alive at `tenure`."""

    def survival(self, design: pd.DataFrame, tenure: np.ndarray) -> np.ndarray: ...


@dataclass
class LifelinesFamily:
    """A lifelines fitter and the design columns it reads (with `_stratum` when stratified)."""

    fitter: CoxPHFitter | WeibullAFTFitter | LogLogisticAFTFitter
    columns: list[str]
    strata_seen: np.ndarray | None = None  # strata codes with a baseline
    strata_fallback: int = 0  # the largest stratum, for codes never seen in training

    def survival(self, design: pd.DataFrame, tenure: np.ndarray) -> np.ndarray:
        rows = design[self.columns].reset_index(drop=True)
        if self.strata_seen is not None:
            seen = rows[_STRATUM].isin(self.strata_seen)
            rows[_STRATUM] = rows[_STRATUM].where(seen, self.strata_fallback)
        curves = self.fitter.predict_survival_function(rows, times=GRID, conditional_after=tenure)
        # A stratified Cox returns its columns grouped by stratum: put them back in row order.
        return curves[rows.index].to_numpy(float).T


@dataclass
class BoostedFamily:
    """XGBoost `survival:cox` risk scores with a Breslow baseline on their exp(margin)."""

    booster: xgb.Booster
    columns: list[str]
    times: np.ndarray  # churn times of the training rows
    cumulative: np.ndarray  # baseline cumulative hazard at `times`

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, columns: list[str], groups: np.ndarray, seed: int
    ) -> BoostedFamily:
        matrix = as_numpy(frame[columns])
        stop, event = frame[_DURATION].to_numpy(float), frame[_EVENT].to_numpy(int)
        label = np.where(event == 1, stop, -stop)  # XGBoost's sign marks censoring
        params = {**BOOST_PARAMS, "seed": seed}
        rounds = _stopped_rounds(matrix, label, groups, params, seed)
        booster = xgb.train(params, xgb.DMatrix(matrix, label=label), num_boost_round=rounds)
        risk = np.exp(booster.predict(xgb.DMatrix(matrix), output_margin=True))
        times = np.unique(stop[event == 1])
        rows = pd.DataFrame({"hazard": risk, "stop": stop, "entry": 0.0, "event": event})
        return cls(booster, columns, times, np.cumsum(_breslow(times, rows)))

    def survival(self, design: pd.DataFrame, tenure: np.ndarray) -> np.ndarray:
        matrix = xgb.DMatrix(as_numpy(design[self.columns]))
        margin = self.booster.predict(matrix, output_margin=True)
        steps = np.concatenate([[0.0], self.cumulative])
        later = steps[np.searchsorted(self.times, tenure[:, None] + GRID, side="right")]
        now = steps[np.searchsorted(self.times, tenure, side="right")]
        return np.exp(-(later - now[:, None]) * np.exp(margin)[:, None])


def _stopped_rounds(
    matrix: np.ndarray, label: np.ndarray, groups: np.ndarray, params: dict, seed: int
) -> int:
    """Boosting rounds by early stopping on a held-back share of the groups."""
    split = GroupShuffleSplit(n_splits=1, test_size=STOPPING_SHARE, random_state=seed)
    fit, held = next(split.split(matrix, groups=groups))
    booster = xgb.train(
        params,
        xgb.DMatrix(matrix[fit], label=label[fit]),
        num_boost_round=MAX_ROUNDS,
        evals=[(xgb.DMatrix(matrix[held], label=label[held]), "held")],
        early_stopping_rounds=EARLY_STOPPING,
        verbose_eval=False,
    )
    return booster.best_iteration + 1


@dataclass(frozen=True)
class Spec:
    """One candidate: a family and its penalty (None for XGBoost)."""

    kind: str
    penalizer: float | None = None

    @property
    def name(self) -> str:
        return self.kind if self.penalizer is None else f"{self.kind} penalizer={self.penalizer:g}"


@dataclass
class Candidate:
    spec: Spec
    c_index: float | None  # mean over the inner folds; None when not cross-validated
    seconds: float

    def row(self) -> dict[str, Any]:
        c_index = None if self.c_index is None else round(self.c_index, 4)
        return {"name": self.spec.name, "c_index_cv": c_index, "seconds": round(self.seconds, 2)}


@dataclass
class _Training:
    """What each candidate is fitted on: covariates + outcome (+ `_stratum`), groups, seed."""

    frame: pd.DataFrame
    groups: np.ndarray
    covariates: list[str]
    strata_dummies: list[str]  # covariates a stratified Cox replaces by its strata
    seed: int

    def rows(self, positions: np.ndarray) -> _Training:
        frame = self.frame.iloc[positions].reset_index(drop=True)
        return replace(self, frame=frame, groups=self.groups[positions])

    @property
    def tenure(self) -> np.ndarray:
        return _tenure(self.frame)


@dataclass
class SurvivalModel:
    encoder: FeatureEncoder
    family: Family
    kind: str  # one of FAMILIES
    columns: list[str]
    strata: list[str] = field(default_factory=list)  # source columns, when stratified
    ph_violations: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        features: pd.DataFrame,
        durations: pd.Series,
        events: pd.Series,
        entries: pd.Series | None = None,
        *,
        strict: bool = False,
        groups: pd.Series | None = None,
        seed: int = SEED,
        penalizers: Sequence[float] = PENALIZERS,
        families: Collection[str] = FAMILIES,
    ) -> SurvivalModel:
        """Choose the family by inner cross-validation, then refit it on every row. `groups`
        keeps a group's rows (an account's snapshots) in one fold; `families` limits the
        candidates (a stratified Cox is offered only if proportional hazards fail)."""
        if unknown := set(families) - set(FAMILIES):
            raise ValueError(f"unknown survival families {sorted(unknown)}")
        encoder = FeatureEncoder.fit(features, strict=strict)
        encoded = encoder.transform(features, impute=True)
        columns = [c for c in encoded.columns if encoded[c].std() > 0]
        frame = _with_outcome(encoded[columns], durations, events, entries)
        references = [f"{source}={levels[0]}" for source, levels in encoder.categories.items()]
        violations = _ph_violations(frame, [c for c in columns if c not in references])
        strata = sorted({encoder.source_of(c) for c in violations} & set(encoder.categories))
        if strata:
            frame[_STRATUM] = _stratum_codes(encoder, encoded, strata)
        ids = np.arange(len(frame)) if groups is None else np.asarray(groups)
        dummies = [c for c in columns if encoder.source_of(c) in strata]
        data = _Training(frame, ids, columns, dummies, seed)
        specs = _specs(families, penalizers, bool(strata), late=_ENTRY in frame)
        candidates, folds, cv_rows = _cross_validate(specs, data)
        best, why = _choose(candidates, folds)
        model = cls(
            encoder,
            _fit_family(best.spec, data),
            best.spec.kind,
            columns,
            strata if best.spec.kind == "cox_strata" else [],
            violations,
        )
        model.report = {
            "penalizer": best.spec.penalizer,
            "candidates": [c.row() for c in candidates],
            "chosen": best.spec.name,
            "why": why,
            "folds": folds,
            "cv_rows": cv_rows,
        }
        return model

    def design(self, features: pd.DataFrame) -> pd.DataFrame:
        """The model's covariates for `features` (imputed, one-hot, the stratum code)."""
        encoded = self.encoder.transform(features, impute=True)
        frame = encoded[self.columns].copy()
        if self.strata:
            frame[_STRATUM] = _stratum_codes(self.encoder, encoded, self.strata)
        return frame

    def survival(self, features: pd.DataFrame, tenure_months: pd.Series) -> pd.DataFrame:
        """S(t | alive at current tenure) on a month grid: rows = accounts, columns = months."""
        tenure = np.clip(np.asarray(tenure_months, dtype=float), 0.0, None)
        curves = self.family.survival(self.design(features), tenure)
        return pd.DataFrame(curves, index=features.index, columns=GRID)

    def predict(
        self,
        features: pd.DataFrame,
        tenure_months: pd.Series,
        months_to_renewal: pd.Series,
        *,
        anchor_90d: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """P(churn before renewal), P(churn within 90 days), expected remaining months (restricted
        to the 5-year horizon) and the curve's points for each account (JSON text of [[months,
        survival], ...] at CURVE_POINTS). With `anchor_90d` (the health model's calibrated
        90-day risk, NaN where there is none) each curve is rescaled to agree with it, so the
        product shows one risk."""
        curves = self.survival(features, tenure_months)
        matrix = np.clip(curves.to_numpy(float), 0.0, 1.0)
        p_90d = 1 - _at(matrix, 90 / MONTH_DAYS)
        if anchor_90d is not None:
            anchor = np.asarray(anchor_90d, dtype=float)
            matrix = anchored(matrix, anchor)
            p_90d = np.where(np.isnan(anchor), p_90d, anchor)  # exactly, not via the grid
        renewal = np.clip(np.asarray(months_to_renewal, dtype=float), 0.0, HORIZON_MONTHS)
        points = [matrix[:, round(m / GRID_STEP_MONTHS)] for m in CURVE_POINTS]
        curve = np.round(np.column_stack(points), 4)
        curve_json = "[" + ", ".join(f"[{months}, {{}}]" for months in CURVE_POINTS) + "]"
        return pd.DataFrame(
            {
                "p_churn_before_renewal": np.round(1 - _at(matrix, renewal), 4),
                "p_churn_90d": np.round(p_90d, 4),
                "expected_remaining_months": np.round(np.trapezoid(matrix, GRID, axis=1), 2),
                # JSON text, as json.dumps writes it: a list per point is slow to build
                "survival_curve": [curve_json.format(*row) for row in curve.tolist()],
            },
            index=features.index,
        )

    def time_scores(
        self, features: pd.DataFrame, *, entries: pd.Series | None = None
    ) -> np.ndarray:
        """Higher = expected to stay longer: restricted mean survival time over the horizon from
        `entries` (tenure 0 if None), the same ranking for every family and stratum."""
        tenure = np.zeros(len(features)) if entries is None else np.asarray(entries, dtype=float)
        return _rmst(self.survival(features, tenure).to_numpy(float))

    def concordance(
        self,
        features: pd.DataFrame,
        durations: pd.Series,
        events: pd.Series,
        *,
        entries: pd.Series | None = None,
    ) -> float:
        """Harrell's C-index of the model on these rows (`durations` counted from `entries`)."""
        scores = self.time_scores(features, entries=entries)
        return float(concordance_index(durations, scores, events))

    def summary(self) -> dict[str, Any]:
        """What the registry keeps about the fit and the choice (JSON-able)."""
        return {
            "kind": self.kind,
            "strata": self.strata,
            "ph_violations": self.ph_violations,
            **self.report,
        }

    def to_bytes(self) -> bytes:
        return pickle.dumps(self)

    @classmethod
    def from_bytes(cls, artifact: bytes) -> SurvivalModel:
        # Written by this module into our own database, never taken from users.
        return pickle.loads(artifact)  # noqa: S301


def anchored(matrix: np.ndarray, p_90d: np.ndarray) -> np.ndarray:
    """Survival curves whose hazard is scaled, at every time, so that each row's P(churn within
    90 days) equals `p_90d`: S'(t) = S(t) ** k with k = log(1 - p) / log S(90 days). The survival
    model keeps the curve's shape over time; the calibrated 90-day risk sets its level. A row
    whose curve has no hazard in 90 days gets a constant one; a NaN in `p_90d` keeps the row."""
    at_90d = np.clip(_at(matrix, 90 / MONTH_DAYS), 1e-12, 1.0)
    target = np.clip(p_90d, 1e-6, 1 - 1e-6)
    keep = np.isnan(p_90d)
    flat = ~keep & (at_90d > 1 - 1e-9)
    power = np.log1p(-target) / np.log(np.where(at_90d < 1, at_90d, 0.5))
    scaled = np.where(keep[:, None], matrix, matrix ** np.where(keep, 1.0, power)[:, None])
    constant = (1 - target[:, None]) ** (GRID[None, :] / (90 / MONTH_DAYS))
    return np.where(flat[:, None], constant, scaled)


def _at(matrix: np.ndarray, months: np.ndarray | float) -> np.ndarray:
    """Each row's survival at its own month value (linear between grid points)."""
    position = np.clip(np.asarray(months, dtype=float) / GRID_STEP_MONTHS, 0, len(GRID) - 1)
    position = np.broadcast_to(position, (matrix.shape[0],))
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(GRID) - 1)
    weight = position - low
    rows = np.arange(matrix.shape[0])
    return matrix[rows, low] * (1 - weight) + matrix[rows, high] * weight


def _rmst(curves: np.ndarray) -> np.ndarray:
    return np.trapezoid(np.clip(curves, 0.0, 1.0), GRID, axis=1)


def _tenure(frame: pd.DataFrame) -> np.ndarray:
    return frame[_ENTRY].to_numpy(float) if _ENTRY in frame else np.zeros(len(frame))


def _with_outcome(
    design: pd.DataFrame, durations: pd.Series, events: pd.Series, entries: pd.Series | None
) -> pd.DataFrame:
    """Covariates and outcome on a fresh index; `_entry` only when some row starts late."""
    frame = design.reset_index(drop=True)
    frame[_DURATION] = np.clip(np.asarray(durations, dtype=float), MIN_DURATION, None)
    frame[_EVENT] = np.asarray(events, dtype=int)
    if entries is not None and (np.asarray(entries, dtype=float) > 0).any():
        frame[_ENTRY] = np.minimum(np.asarray(entries, dtype=float), frame[_DURATION] - 1e-6)
    if frame[_EVENT].sum() == 0:
        raise FeatureError("no churn events: the survival model needs some churned accounts")
    return frame


def _stratum_codes(encoder: FeatureEncoder, encoded: pd.DataFrame, sources: list[str]):
    """One code per combination of the sources' levels (the argmax of their one-hot columns)."""
    codes = [
        encoded[[f"{source}={level}" for level in encoder.categories[source]]]
        .to_numpy()
        .argmax(axis=1)
        for source in sources
    ]
    dims = [len(encoder.categories[source]) for source in sources]
    return np.ravel_multi_index(codes, dims)


def _specs(
    families: Collection[str], penalizers: Sequence[float], stratified: bool, *, late: bool
) -> list[Spec]:
    offered = {"cox_strata": stratified, "xgb_cox": not late}
    specs: list[Spec] = []
    for kind in FAMILIES:
        if kind not in families or not offered.get(kind, True):
            continue
        if kind in ("cox", "cox_strata"):
            specs += [Spec(kind, float(p)) for p in sorted(penalizers)]
        else:
            specs.append(Spec(kind, AFT_PENALIZER if kind.endswith("_aft") else None))
    if not specs:
        raise FeatureError(f"none of the survival families {sorted(families)} fits these rows")
    return specs


def _fit_family(spec: Spec, data: _Training) -> Family:
    """The candidate `spec` fitted on `data`."""
    frame, outcome = data.frame, [c for c in _OUTCOME if c in data.frame]
    if spec.kind == "xgb_cox":
        return BoostedFamily.fit(frame, data.covariates, data.groups, data.seed)
    penalizer = spec.penalizer
    assert penalizer is not None  # every lifelines family has one (_specs)
    if spec.kind == "cox_strata":
        columns = [c for c in data.covariates if c not in data.strata_dummies] + [_STRATUM]
        cox = _fit_cox(frame[columns + outcome], penalizer, [_STRATUM])
        sizes = frame[_STRATUM].value_counts()
        return LifelinesFamily(cox, columns, sizes.index.to_numpy(), int(sizes.idxmax()))
    subset = frame[data.covariates + outcome]
    if spec.kind == "cox":
        return LifelinesFamily(_fit_cox(subset, penalizer, None), data.covariates)
    fitter = WeibullAFTFitter if spec.kind == "weibull_aft" else LogLogisticAFTFitter
    return LifelinesFamily(_fit_aft(fitter, subset, penalizer, data.seed), data.covariates)


def _cross_validate(specs: list[Spec], data: _Training) -> tuple[list[Candidate], int, int]:
    """Each candidate's mean inner-fold C-index and time, the folds and the rows used."""
    if len(specs) == 1:
        return [Candidate(specs[0], None, 0.0)], 0, 0
    sample = data.rows(_cv_sample(data.groups, data.seed))
    folds = _folds(sample.frame[_EVENT].to_numpy(), sample.groups, data.seed)
    return [_score(spec, sample, folds) for spec in specs], len(folds), len(sample.groups)


def _folds(event: np.ndarray, groups: np.ndarray, seed: int) -> list:
    """Folds stratified by event that keep each group in one fold; fewer when churn is rare."""
    count = int(max(2, min(FOLDS, event.sum())))
    splitter = StratifiedGroupKFold(n_splits=count, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(event)), event, groups))


def _cv_sample(groups: np.ndarray, seed: int) -> np.ndarray:
    """Row positions of whole groups, drawn at random, up to MAX_CV_ROWS rows."""
    if len(groups) <= MAX_CV_ROWS:
        return np.arange(len(groups))
    names, sizes = np.unique(groups, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    kept = names[order][np.cumsum(sizes[order]) <= MAX_CV_ROWS]
    return np.flatnonzero(np.isin(groups, kept))


def _score(spec: Spec, data: _Training, folds: list) -> Candidate:
    """Mean C-index of `spec` over the folds (None if a fold cannot be fitted or scored)."""
    started, scores = time.perf_counter(), []
    try:
        for train, test in folds:
            family = _fit_family(spec, data.rows(train))
            held = data.rows(test)
            rmst = _rmst(family.survival(held.frame, held.tenure))
            elapsed = held.frame[_DURATION].to_numpy() - held.tenure
            scores.append(concordance_index(elapsed, rmst, held.frame[_EVENT]))
    except _FIT_ERRORS as error:
        log.warning(
            "survival candidate could not be fitted",
            extra={"candidate": spec.name, "error": str(error)},
        )
        scores = []
    c_index = float(np.mean(scores)) if scores else None
    return Candidate(spec, c_index, time.perf_counter() - started)


def _choose(candidates: list[Candidate], folds: int) -> tuple[Candidate, str]:
    """The simplest candidate within TIE of the best mean C-index, and one sentence why."""
    if len(candidates) == 1:
        only = candidates[0]
        return only, f"{only.spec.name} was the only candidate offered, so none was compared."
    scored = [c for c in candidates if c.c_index is not None]
    if not scored:
        raise FeatureError("no survival model could be fitted and scored: too few churn events")

    def c_index(candidate: Candidate) -> float:
        assert candidate.c_index is not None  # `scored` holds scored candidates only
        return candidate.c_index

    top = max(scored, key=c_index)
    best = next(c for c in scored if c_index(c) >= c_index(top) - TIE)
    if best is top:
        runner = max((c for c in scored if c is not top), key=c_index, default=top)
        return best, (
            f"{best.spec.name} had the best mean C-index over {folds} inner folds "
            f"({best.c_index:.4f}; next {runner.spec.name}, {runner.c_index:.4f})."
        )
    return best, (
        f"{best.spec.name} ({best.c_index:.4f}) is within {TIE} of the best mean C-index over "
        f"{folds} inner folds ({top.spec.name}, {top.c_index:.4f}) and simpler."
    )


def _fit_cox(frame: pd.DataFrame, penalizer: float, strata: list[str] | None) -> CoxPHFitter:
    cox = CoxPHFitter(penalizer=penalizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        entry = _ENTRY if _ENTRY in frame else None
        cox.fit(frame, _DURATION, _EVENT, entry_col=entry, strata=strata)
    if entry:
        _rebase_on_late_entries(cox, frame)
    return cox


def _rebase_on_late_entries(cox: CoxPHFitter, frame: pd.DataFrame) -> None:
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
    if cox.strata:
        # Group as lifelines does (one stratum column is kept as a bare name), so the keys
        # match the baseline's column labels.
        strata = [cox.strata] if isinstance(cox.strata, str) else list(cox.strata)
        rows[strata] = frame[strata].to_numpy()
        groups = dict(list(rows.groupby(cox.strata)))
        columns = {name: _breslow(times, groups[name]) for name in inner.baseline_hazard_}
    else:
        columns = {"baseline hazard": _breslow(times, rows)}
    hazard = pd.DataFrame(columns, index=inner.baseline_hazard_.index)
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
    events = rows.groupby("stop")["event"].sum().reindex(times, fill_value=0).to_numpy(float)
    return np.divide(events, at_risk, out=np.zeros_like(events), where=at_risk > 0)


def _fit_aft(
    fitter: type[WeibullAFTFitter | LogLogisticAFTFitter],
    frame: pd.DataFrame,
    penalizer: float,
    seed: int,
) -> WeibullAFTFitter | LogLogisticAFTFitter:
    """An AFT model on every churn row and an inverse-probability-weighted sample of the rest
    (lifelines' AFT optimiser is slow on large frames; the weighted sample keeps it unbiased)."""
    kept = frame[_EVENT] == 1
    share = min(1.0, max(MAX_AFT_ROWS - kept.sum(), 1) / max((~kept).sum(), 1))
    chosen = kept | (np.random.default_rng(seed).random(len(frame)) < share)
    sample = frame[chosen].assign(_weight=np.where(kept[chosen], 1.0, 1.0 / share))
    aft = fitter(penalizer=penalizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", StatisticalWarning)
        entry = _ENTRY if _ENTRY in sample else None
        aft.fit(sample, _DURATION, _EVENT, entry_col=entry, weights_col="_weight")
    return aft


def _ph_violations(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Covariates whose Schoenfeld-residual test rejects proportional hazards (what lifelines'
    check_assumptions runs), Bonferroni-corrected over the covariates. `columns` leave out one
    reference level per categorical: with the full one-hot set the fit is collinear and the
    test's variance, hence its p-values, depend on the penalty. lifelines has no residuals
    for late entries, so the test runs on a fit that ignores them; large frames on a sample
    (the test is slow, and on huge samples it flags effects too small to matter)."""
    rows = frame[[*columns, _DURATION, _EVENT]]
    if len(rows) > MAX_PH_ROWS:
        rows = rows.sample(MAX_PH_ROWS, random_state=SEED)
    cox = _fit_cox(rows, PH_PENALIZER, strata=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = proportional_hazard_test(cox, rows, time_transform="rank")
    p_values = result.summary["p"]
    limit = PH_ALPHA / max(len(p_values), 1)
    return [str(name) for name, p in p_values.items() if p < limit]
