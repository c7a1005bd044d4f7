"""The small sub-commands: `quorum models`, `quorum history`, `quorum show` and `quorum config`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tui.config import paths
from tui.config.catalog import Catalog
from tui.config.loading import config_layers, load_settings, setting_origin
from tui.config.schema import Settings
from tui.engine.types import Origin
from tui.errors import EXIT_OK, UsageError, hide_values
from tui.history.store import RunStore
from tui.render.formatting import literal, safe_json
from tui.render.report import render_markdown
from tui.render.words import outcome_word, run_word
from tui.runtime import secret_values

STARTER_CONFIG: dict[str, Any] = {
    "run": {"mode": "deliberate", "max_rounds": 3, "call_deadline_s": 180},
    "panel": {"size": 3},  # the default panel's seats; `members = [...]` sets your own panel
    "ui": {"theme": "quorum-dark"},
}


def models_command(settings: Settings, as_json: bool) -> int:
    """The catalog: every model, its provider and prices, and whether its key is set."""
    entries = Catalog(settings).entries()
    if as_json:
        rows = [
            {
                "alias": e.alias,
                "aliases": list(e.aliases),
                "provider": e.provider,
                "id": e.model_id,
                "key": e.key,
                "key_env": e.key_env,
                "context_window": e.context_window,
                "input_price": e.input_price,
                "output_price": e.output_price,
                "demo": e.demo,
            }
            for e in entries
        ]
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    # Each column as wide as its widest cell (a user's alias, model id or key variable can be
    # long); names to the left, numbers to the right, and the key status, the longest, last.
    columns: list[tuple[str, bool, list[str]]] = [
        ("alias", False, [e.alias for e in entries]),
        ("provider", False, [e.provider for e in entries]),
        ("model id", False, [e.model_id for e in entries]),
        ("context", True, [f"{e.context_window:,}" for e in entries]),
        ("$/M in", True, [f"{e.input_price:.2f}" for e in entries]),
        ("$/M out", True, [f"{e.output_price:.2f}" for e in entries]),
        ("key", False, [e.key_words for e in entries]),
    ]
    widths = [max(len(title), *(len(cell) for cell in cells)) for title, _, cells in columns]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, (_, right, _) in zip(cells, widths, columns, strict=True)
        ).rstrip()

    header = line([title for title, _, _ in columns])
    print(header)
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for row in zip(*(cells for _, _, cells in columns), strict=True):
        print(literal(line(list(row))))
    return EXIT_OK


def history_command(settings: Settings, args: argparse.Namespace) -> int:
    """`quorum history` (the list) and `quorum show RUN` (one run as Markdown or JSON)."""
    path = paths.history_file(settings.store.path)
    if not path.exists():
        if args.command == "show":  # no such run, like any unknown id
            raise UsageError(f"no run history yet ({path} does not exist)")
        print(f"quorum: no run history yet ({path} does not exist)", file=sys.stderr)
        return EXIT_OK
    store = RunStore(path)
    try:
        if args.command == "history":
            return _list_runs(store, args)
        try:
            result = store.load(store.resolve(args.run))
        except KeyError as err:
            raise UsageError(str(err.args[0])) from None
        secrets = secret_values(settings)  # a key recorded before it was redacted is still not shown
        if args.json:
            print(safe_json(result.model_dump_json(indent=2), secrets))
        else:
            print(hide_values(render_markdown(result), secrets))
        return EXIT_OK
    finally:
        store.close()


def _list_runs(store: RunStore, args: argparse.Namespace) -> int:
    runs = store.list_runs(limit=args.limit, text=args.filter)
    if args.json:
        print(json.dumps([run.__dict__ for run in runs], indent=2))
        return EXIT_OK
    for run in runs:
        outcome = outcome_word(run.outcome) if run.outcome else run_word(run.status)
        question = ("↳ " if run.parent_run_id else "") + " ".join(run.question.split())
        if run.origin is Origin.MCP:  # asked by a coding agent, not typed here
            question = f"[mcp] {question}"
        question = question if len(question) <= 60 else question[:59] + "…"
        print(
            f"{run.id}  {run.created_at[:16].replace('T', ' ')}  {outcome:<16} ${run.cost_usd:<8.4f} "
            f"{literal(question)}"
        )
    if not runs:
        print("no runs recorded" + (f" matching {args.filter!r}" if args.filter else ""))
    return EXIT_OK


def config_command(args: argparse.Namespace) -> int:
    """`quorum config path | init | validate` (every layer, the models and keys it names, the themes)."""
    target = paths.user_config_file()
    if args.config_command == "path":
        print(target)
        for layer in config_layers(args.config):
            print(f"  reads: {layer.path}")
        if not target.exists():
            print("  (the user config does not exist yet: `quorum config init` writes one)")
        print(f"themes: {paths.user_themes_dir()}  (your own, *.toml)")
        print(f"  shipped themes: {paths.shipped_dir('themes')}  (complete examples to copy)")
        return EXIT_OK
    if args.config_command == "init":
        return _init_config(target, args.force)
    settings = load_settings(args.config)  # this checks the models and keymap it names, too
    # Themes are the dashboard's (Textual checks their colours): loaded only here, for this check.
    from tui.dashboard.themes import check_theme_config

    check_theme_config(settings.ui.theme, setting_origin(("ui", "theme"), args.config))
    print(f"ok: {len(settings.models)} models, {len(settings.providers)} providers")
    for layer in config_layers(args.config):
        print(f"  read: {layer.path}")
    return EXIT_OK


def _init_config(target: Any, force: bool) -> int:
    import tomli_w

    if target.exists() and not force:
        raise UsageError(f"{target} already exists; use --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    text = "# Quorum user config: overrides the shipped defaults (see `quorum config path`).\n"
    text += tomli_w.dumps(STARTER_CONFIG)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return EXIT_OK
