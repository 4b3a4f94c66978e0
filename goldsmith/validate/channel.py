"""How the suite runner talks to our pytest plugin in the child process: environment variable names.

Kept apart from the plugin so that the bake does not import pytest just to name them.
"""

VARS_ENV = "GOLDSMITH_VARS_JSON"
HOST_KEY_ENV = "GOLDSMITH_HOST_KEY"
