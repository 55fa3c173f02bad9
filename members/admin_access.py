"""Admin for API access: member tokens, POS keys, sign-in locks."""
