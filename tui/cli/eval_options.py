"""`quorum eval`'s options: what the command line gives `tui.cli.eval.eval_command`, and the
parser that reads them. Light to import (every command's parser is built with it); the command
itself, and the engine it runs, load only when it runs."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.cli.arguments import add_member_options, at_least_one
from tui.config.schema import MemberSpec
from tui.errors import UsageError
from tui.eval.modes import mode_names

DEFAULT_CONCURRENCY = 8
"""How many runs are in flight at once unless `--concurrency` says otherwise: with three seats,
up to 24 calls, enough to keep a hosted provider busy without starting a thousand items at once
(a provider's `max_concurrency` holds its calls in line below that)."""

DEFAULT_DEV = 20
"""The development slice unless `--dev` says otherwise: 20 items, or a fifth of a smaller set."""

DEFAULT_MAX_COST = 5.0
"""What an evaluation may cost (USD) unless `--max-cost` says otherwise."""


def default_dev(total: int) -> int:
    """The development slice of a dataset of `total` items, unless `--dev` says otherwise."""
    return min(DEFAULT_DEV, total // 5)


@dataclass
class EvalOptions:
    dataset: str
    members: list[MemberSpec] = field(default_factory=list)
    synthesizer: str | None = None
    modes: str | None = None
    """`--modes`, comma-separated; None: every mode."""
    limit: int | None = None
    seed: int = 0
    scorer: str | None = None
    """None: `choice`, `numeric` or `exact`, by what the dataset's targets are."""
    max_cost: float = DEFAULT_MAX_COST
    yes: bool = False
    as_json: bool = False
    log: str | None = None
    resume: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    dev: int | None = None
    """The development slice's size; None: `default_dev`."""

    def __post_init__(self) -> None:
        if self.dev is not None and self.dev < 0:
            raise UsageError(f"--dev is 0 or more items, not {self.dev}")
        if self.max_cost < 0:
            raise UsageError(f"--max-cost is 0 or more USD, not {self.max_cost:g}")
        if self.concurrency < 1:
            raise UsageError(f"--concurrency is at least 1, not {self.concurrency}")
        if self.log and self.resume and Path(self.log).expanduser() != Path(self.resume).expanduser():
            raise UsageError("--resume names the log to continue: give --log the same file, or leave it out")


def add_eval_parser(commands: Any) -> None:
    """`quorum eval` among `commands` (the sub-command parsers)."""
    parser = commands.add_parser(
        "eval",
        help="measure the panel's modes against its best member alone and a plain vote, on known answers",
        description="Ask a dataset's questions with known answers in every mode and report accuracy with "
        "95% intervals, paired differences against the best single member and a plain vote, tokens, "
        "cost and time, and what the data supports. Progress on stderr, the report (or --json) on "
        "stdout. Exits 0 when every run was made, 1 when new runs stopped at --max-cost, 2 on a usage "
        "error, 130 when interrupted by Ctrl+C or SIGTERM (--resume LOG runs the rest).",
    )
    parser.add_argument(
        "dataset",
        metavar="DATASET",
        help="gsm8k, arithmetic[:LEVEL] (levels 1-5), or a JSONL file (inspect or GSM8K)",
    )
    add_member_options(parser, "a panel member (repeat); one without a stance is asked with none")
    parser.add_argument(
        "--modes", metavar="LIST", help=f"comma-separated: {','.join(mode_names())} (default: all)"
    )
    parser.add_argument("--limit", type=at_least_one, metavar="N", help="score N items (default: all)")
    parser.add_argument(
        "--seed", type=int, default=0, metavar="S", help="which items, in which order (default 0)"
    )
    parser.add_argument(
        "--dev",
        type=int,
        metavar="N",
        help=f"the development slice the best single member is chosen on (default {DEFAULT_DEV}, a fifth "
        "of a smaller dataset)",
    )
    parser.add_argument(
        "--scorer",
        metavar="NAME",
        help="numeric, choice, exact, includes or regex=PATTERN (default: by the targets)",
    )
    parser.add_argument(
        "--max-cost",
        type=float,
        default=DEFAULT_MAX_COST,
        metavar="USD",
        help="refuse an estimate above it unless --yes; start no run once it is spent "
        f"(default {DEFAULT_MAX_COST:g})",
    )
    parser.add_argument("--yes", action="store_true", help="start even when the estimate is above --max-cost")
    parser.add_argument(
        "--concurrency",
        type=at_least_one,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"runs in flight at once (default {DEFAULT_CONCURRENCY}); each provider's max_concurrency "
        "still holds its calls",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the summary as JSON, the last line of stdout"
    )
    parser.add_argument(
        "--log", metavar="FILE", help="the per-item log (default: a new file in the data folder)"
    )
    parser.add_argument("--resume", metavar="FILE", help="continue the evaluation this log holds")


def eval_options(args: argparse.Namespace, members: list[MemberSpec]) -> EvalOptions:
    """The options `quorum eval` was given (its `-m` members read by the caller, once the settings
    are known)."""
    return EvalOptions(
        dataset=args.dataset,
        members=members,
        synthesizer=args.synthesizer,
        modes=args.modes,
        limit=args.limit,
        seed=args.seed,
        scorer=args.scorer,
        max_cost=args.max_cost,
        yes=args.yes,
        as_json=args.json,
        log=args.log,
        resume=args.resume,
        concurrency=args.concurrency,
        dev=args.dev,
    )
