"""Pipelines: a DAG of recipes baked together (run, plan, resume), on top of bake's API."""
