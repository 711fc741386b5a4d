"""Health scores and churn risk.

Model code (DataFrames in, scores out; no Flask, no database): `encoding`, `explain`,
`health_model` (XGBoost + isotonic or Platt calibration + TreeSHAP drivers), `survival`
(lifelines Cox / stratified Cox / Weibull AFT), `scorecard` (cold start), `metrics`,
`evaluate` (any CSV).
Database-facing: `features` (point-in-time, set-wise), `training` (monthly snapshots), `registry`
(model versions, champion/challenger), `runs` (nightly scoring, training), `risk_flags` (tasks),
`backtest`, `services` (scorecard settings). Wiring: `jobs`, `cli`, `routes` + `forms` (admin page).
"""
