"""Connectors that pull CRM, helpdesk and usage data in, matched to accounts."""
