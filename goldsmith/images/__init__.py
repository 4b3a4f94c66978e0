"""Image-level operations after a bake: share, copy to regions, clean up what failed runs left
(and, as they come, channels, inventory and retention). Never imports goldsmith.bake."""
