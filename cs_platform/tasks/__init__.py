"""Tasks for CSMs: snooze, complete with an outcome, assign, playbooks of steps."""
