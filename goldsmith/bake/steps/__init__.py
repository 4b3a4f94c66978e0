"""bake/steps."""
