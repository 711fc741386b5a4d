"""Alerts to users where they already are (email, Slack, Microsoft Teams), by their preferences:
`notify.enqueue_alerts` queues them, `delivery` sends them, `routes` is the settings page."""
