"""How the suite runner talks to our pytest plugin in the child process: environment variable names.

Kept apart from the plugin so that the bake does not import pytest just to name them.
"""

VARS_ENV = "GOLDSMITH_VARS_JSON"
HOST_KEY_ENV = "GOLDSMITH_HOST_KEY"
BUILD_PUBLIC_KEY_ENV = "GOLDSMITH_BUILD_PUBLIC_KEY"  # the build key, so a suite can check it was removed
ROLE_ENV = "GOLDSMITH_VALIDATION_ROLE"  # "image" (instance from the AMI) or "build" (the build instance)
