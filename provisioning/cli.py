"""The `provision` command. Its subcommands come with the tablets and fleet work."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="provision", description="Loaned tablets and the fleet of kits.")
    parser.add_argument("--config", metavar="FILE", help="settings file (TOML); default: $KIOSK_CONFIG")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
