"""Outbound webhooks signed per the Standard Webhooks specification, delivered through the
outbox with retries, plus the admin pages that register endpoints and show their deliveries."""
