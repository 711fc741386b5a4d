"""Dashboards: the book of business, survey metrics, model health, outcomes of risk tasks."""
