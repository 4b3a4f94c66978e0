"""``python -m goldsmith.sandbox serve|up|down|status|env|check`` — run or manage the local sandbox."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from goldsmith.errors import GoldsmithError


def _parser() -> argparse.ArgumentParser:
    from goldsmith.sandbox.daemon import DEFAULT_REGIONS

    parser = argparse.ArgumentParser(prog="python -m goldsmith.sandbox", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="sandbox state (default: $GOLDSMITH_SANDBOX_DIR or /var/lib/goldsmith/sandbox)")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the daemon in the foreground (until SIGTERM/SIGINT)")
    serve.add_argument("--state-dir", type=Path, default=argparse.SUPPRESS)
    serve.add_argument("--port", type=int, default=0, help="gateway port (default: a free one)")
    serve.add_argument("--regions", default=",".join(DEFAULT_REGIONS),
                       help="comma-separated regions; the first is the default region")
    for name, text in (("up", "start the daemon in the background (idempotent) and print the env"),
                       ("down", "stop the daemon and everything it started"),
                       ("status", "show the daemon, its instances and snapshots"),
                       ("env", "print export lines for the sandbox (starting it if needed)"),
                       ("check", "check that this machine can run the sandbox (tools, kernel features)")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--state-dir", type=Path, default=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    from goldsmith.sandbox import manage

    args = _parser().parse_args(argv)
    state_dir: Path = args.state_dir or manage.default_state_dir()
    try:
        if args.command == "serve":
            from goldsmith.sandbox.daemon import DaemonSettings, serve

            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
            regions = tuple(r.strip() for r in args.regions.split(",") if r.strip())
            serve(DaemonSettings(state_dir, port=args.port, regions=regions),
                  progress=lambda line: print(line, flush=True))
        elif args.command in ("up", "env"):
            info = manage.up(state_dir, progress=lambda line: print(line, file=sys.stderr, flush=True))
            print("\n".join(manage.env_lines(info)))
        elif args.command == "down":
            manage.down(state_dir)
        elif args.command == "check":
            from goldsmith.sandbox.network import probe
            from goldsmith.sandbox.prereqs import check_prerequisites

            check_prerequisites()
            probe()
            print("this machine can run the sandbox")
        else:
            print(manage.status_text(state_dir))
    except GoldsmithError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
