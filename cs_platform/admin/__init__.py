"""Admin pages: user management."""
