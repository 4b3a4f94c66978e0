"""Validation: planning and running pytest-testinfra suites against an instance (a pytest subprocess), JUnit XML."""

from goldsmith.validate.junit import Failure, Summary, parse_junit
from goldsmith.validate.suites import Connection, Jump, SuiteResult, run_suites

__all__ = ["Connection", "Failure", "Jump", "SuiteResult", "Summary", "parse_junit", "run_suites"]
