"""moto's server as its own process, with Goldsmith's fixes applied before the first request.

Run as ``python -m goldsmith.sandbox.moto_server --port N [--base-image-name NAME]``. moto's own AMI list
is not loaded: the sandbox world holds only the base AMI (one per region), so every snapshot an instance
boots from is one the instance runtime knows.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import UTC, datetime

BASE_IMAGE_NAME_PREFIX = "debian-12-sandbox-amd64"


def default_base_image_name() -> str:
    """The base AMI's name, dated like Debian's own (debian-12-amd64-YYYYMMDD-...)."""
    return f"{BASE_IMAGE_NAME_PREFIX}-{datetime.now(UTC):%Y%m%d}"


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, patch moto, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m goldsmith.sandbox.moto_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--base-image-name", default=None,
                        help="name of the public base AMI created in every region (default: dated)")
    parser.add_argument("--verbose", action="store_true", help="log every request (werkzeug)")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "false")
    from moto import server

    from goldsmith.sandbox import moto_fixes

    moto_fixes.apply_all(args.base_image_name or default_base_image_name())
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server.main(["--host", args.host, "--port", str(args.port)])


if __name__ == "__main__":
    main()
