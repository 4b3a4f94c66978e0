"""One module per bake step, each a class with `name`, `run` and `cleanup`."""
