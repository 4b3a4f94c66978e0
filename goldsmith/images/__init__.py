"""Image-level operations after a bake: share, copy to regions, clean up what failed runs left
(and, as they come, channels, inventory and retention), and the build cache's lookup of images made from
the same inputs. Never imports goldsmith.bake."""
