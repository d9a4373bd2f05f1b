"""Durable tasks and settings: the ``TaskStore`` on SQLite or PostgreSQL."""
