"""Argument types and options the command line's parsers share."""

from __future__ import annotations

import argparse


def at_least_one(value: str) -> int:
    """A whole number of 1 or more (a count of rounds, of tabs), or a usage error saying why."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {number}")
    return number


def add_member_options(parser: argparse.ArgumentParser, member_help: str) -> None:
    """`-m ALIAS[:STANCE]` (repeated) and `--synthesizer ALIAS`: who is asked, for every command
    that asks a panel (`quorum run`, the dashboard, `quorum eval`)."""
    parser.add_argument(
        "-m",
        "--model",
        dest="members",
        action="append",
        default=[],
        metavar="ALIAS[:STANCE]",
        help=member_help,
    )
    parser.add_argument("--synthesizer", metavar="ALIAS", help="the synthesizer and curator")
