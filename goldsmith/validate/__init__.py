"""Validation: planning and running pytest-testinfra suites against an instance (a pytest subprocess), JUnit XML.

Import what you need from the submodules (suites, junit, plan, ...): this package imports nothing itself, so
the pytest plugin the suites' process loads (goldsmith.validate.plugin) does not bring the runner's modules
with it (~0.2 s of every validation's start-up).
"""
