"""Admin for the outbox: messages and their templates."""
