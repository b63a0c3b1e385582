"""Users, passwords, sessions, verification tokens, email preferences and API keys."""
