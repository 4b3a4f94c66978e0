"""The bake: its sequences (BAKE, VALIDATE_IMAGE), one module per step, the typed BuildState, and
the API that runs them on the engine (goldsmith.engine)."""
