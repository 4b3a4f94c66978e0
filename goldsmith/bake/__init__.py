"""The bake: typed BuildState, steps with run/cleanup, the runner and its journal."""
