"""Admin pages: users, API keys, scheduled jobs and the audit log."""
