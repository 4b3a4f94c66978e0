"""Reporting a run: events (JSON-lines log + console), the progress display, the manifest file, redaction."""
