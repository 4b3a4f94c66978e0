"""The sandbox fixtures (sandbox, sandbox_dir, sandbox_client, ec2) live in tests/conftest.py, shared
with tests/reliability: one sandbox per test session."""
