"""The small sub-commands: `quorum models`, `quorum history`, `quorum show` and `quorum config`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tui.cli.logs import hide_secrets
from tui.config import paths
from tui.config.catalog import Catalog, secret_values
from tui.config.loading import (
    MAX_CONFIG_BYTES,
    Layer,
    LayerKind,
    config_layers,
    load_settings,
    parse_toml,
    project_layer,
    setting_origin,
)
from tui.config.project import Trust, project_wanted, set_trust, untrusted_problems
from tui.config.schema import Settings
from tui.config.tables import merge
from tui.errors import EXIT_FAILED, EXIT_OK, ConfigError, UsageError, hide_values, redact
from tui.files import FileRefused, read_limited
from tui.history.store import RunStore, RunSummary
from tui.render.context import context_brief
from tui.render.formatting import literal
from tui.render.report import render_markdown
from tui.render.run_json import run_json
from tui.render.words import listed_question, outcome_word, run_word

STARTER_CONFIG: dict[str, Any] = {
    "run": {"mode": "deliberate", "max_rounds": 3, "call_deadline_s": 180},
    "panel": {"size": 3},  # the default panel's seats; `members = [...]` sets your own panel
    "ui": {"theme": "quorum-dark"},
}


def models_command(settings: Settings, as_json: bool) -> int:
    """The catalog: every model, its provider and prices, whether it takes images, and whether its
    key is set."""
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
                "vision": e.vision,
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
        ("vision", False, ["yes" if e.vision else "no" for e in entries]),
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
        secrets = secret_values(settings)  # a key recorded before it was redacted is still not shown
        if args.command == "history":
            return _list_runs(store, args, secrets)
        try:
            result = store.load(store.resolve(args.run))
        except KeyError as err:
            raise UsageError(str(err.args[0])) from None
        if args.json:
            print(run_json(result, secrets))
        else:
            print(hide_values(render_markdown(result), secrets))
        return EXIT_OK
    finally:
        store.close()


def _list_runs(store: RunStore, args: argparse.Namespace, secrets: Sequence[str]) -> int:
    # A question is stored redacted; one recorded before it was is redacted as it is printed.
    runs = [
        replace(run, question=redact(run.question, secrets))
        for run in store.list_runs(limit=args.limit, text=args.filter, eval_runs=args.eval)
    ]
    if args.json:
        print(json.dumps([_listed_json(run) for run in runs], indent=2))
        return EXIT_OK
    for run in runs:
        outcome = outcome_word(run.outcome) if run.outcome else run_word(run.status)
        question = listed_question(
            run.question,
            follow_up=run.parent_run_id is not None,
            origin=run.origin,
            cache_of=run.cache_of,
            mode=run.mode,
        )
        question = question if len(question) <= 60 else question[:59] + "…"
        print(
            f"{run.id}  {run.created_at[:16].replace('T', ' ')}  {outcome:<16} ${run.cost_usd:<8.4f} "
            f"{literal(question)}"
        )
    if not runs:
        print("no runs recorded" + (f" matching {args.filter!r}" if args.filter else ""))
    return EXIT_OK


def _listed_json(run: RunSummary) -> dict[str, object]:
    """A line of the history as JSON: the run named `run_id`, as `quorum show --json` and the
    data contract name it, then the rest of the line as the history keeps it."""
    line = dict(run.__dict__)
    return {"run_id": line.pop("id"), **line}


PROJECT_TRUST_WORDS: dict[Trust, str] = {
    Trust.TRUSTED: "project file, trusted as it is",
    Trust.UNTRUSTED: "project file, not trusted: it may set [context], [panel], [run] within your limits, "
    "[demo] and ui.theme",
    Trust.CHANGED: "project file, changed since you trusted it: held to what an untrusted file may set",
}


def _layer_line(layer: Layer) -> str:
    if layer.kind is LayerKind.PROJECT:
        return f"{layer.path}  ({PROJECT_TRUST_WORDS[layer.trust]})"
    return str(layer.path)


def config_command(args: argparse.Namespace) -> int:
    """`quorum config path | init | validate | trust` (every layer, the models and keys it names,
    the themes; trusting a project file)."""
    target = paths.user_config_file()
    use_project = not args.no_project
    if args.config_command == "path":
        return _config_paths(target, args.config, use_project)
    if args.config_command == "init":
        return _init_config(target, args.force)
    if args.config_command == "trust":
        return _trust(args.path, args.revoke, use_project, args.yes)
    settings = load_settings(args.config, project=use_project)  # it checks the models and keymap named too
    hide_secrets(secret_values(settings))  # an error below may quote a value given in the wrong place
    # Themes are the dashboard's (Textual checks their colours): loaded only here, for this check.
    from tui.dashboard.themes import check_theme_config

    check_theme_config(settings.ui.theme, setting_origin(("ui", "theme"), args.config, project=use_project))
    print(f"ok: {len(settings.models)} models, {len(settings.providers)} providers")
    for layer in config_layers(args.config, project=use_project):
        print(f"  read: {_layer_line(layer)}")
    context = settings.context.team_context()
    if context is not None:
        sources = ", ".join(str(path) for path in settings.context_files)
        print(f"context: {context_brief(context)}")
        print(f"  from {sources} (sha256 {context.sha256[:12]})")
    return EXIT_OK


def _config_paths(target: Path, explicit: str | None, use_project: bool) -> int:
    """Where every configuration file is, in layer order: a project file with whether it is
    trusted (or why it is refused), and where themes go."""
    print(target)
    layers = config_layers(explicit, project=False)
    remark = ""  # what to say instead when no project file is read
    if not project_wanted(not use_project):
        remark = "project files ignored (--no-project or $QUORUM_NO_PROJECT)"
    else:
        try:
            found = project_layer()
        except ConfigError as err:
            remark = f"project file {err.file} refused: {err.reason}"
            found = None
        if found is not None:
            explicit_at = [i for i, layer in enumerate(layers) if layer.kind is LayerKind.EXPLICIT]
            layers.insert(explicit_at[0] if explicit_at else len(layers), found)
        elif not remark:
            remark = "no project file (.quorum.toml) from here up to the repository's root or your home"
    for layer in layers:
        print(f"  reads: {_layer_line(layer)}")
    if remark:
        print(f"  ({remark})")
    if not target.exists():
        print("  (the user config does not exist yet: `quorum config init` writes one)")
    print(f"themes: {paths.user_themes_dir()}  (your own, *.toml)")
    print(f"  shipped themes: {paths.shipped_dir('themes')}  (complete examples to copy)")
    return EXIT_OK


def _trust(given: str | None, revoke: bool, use_project: bool, yes: bool) -> int:
    """`quorum config trust [PATH] [--revoke] [--yes]`: show what trusting a project file as it is
    now would let it set, then trust it once the user says yes (asked on a terminal, or `--yes`);
    or trust it no longer. Without a terminal to ask on, nothing is trusted without `--yes`."""
    path = Path(given).expanduser() if given else paths.find_project_file()
    if path is None:
        raise UsageError(
            "no project file (.quorum.toml) here or above, up to the repository's root or your home; "
            "name one: quorum config trust PATH"
        )
    if revoke:
        set_trust(path, None)
        print(f"no longer trusted: {path}")
        return EXIT_OK
    on_terminal = sys.stdin is not None and sys.stdin.isatty()
    if not (yes or on_terminal):
        raise UsageError(
            f"not trusting {path} unasked: run `quorum config trust` on a terminal to read what it "
            "sets and answer, or add --yes"
        )
    try:
        raw = read_limited(path, MAX_CONFIG_BYTES)
    except FileRefused as err:
        raise UsageError(f"cannot trust {path}: {err.reason}") from None
    data = parse_toml(path, raw)  # the same reading as the loader's: a file that is not TOML is refused
    beneath: dict[str, Any] = {}
    for below in config_layers(None, project=False):
        if below.kind in (LayerKind.SHIPPED, LayerKind.USER):
            beneath = merge(beneath, below.data)
    beyond = untrusted_problems(data, beneath)
    if beyond:
        print(f"{path} sets what only a trusted project file may:")
        for key, reason in beyond:
            print(f"  - {'.'.join(key)}: {literal(reason)}")
    else:
        print(f"{path} sets nothing an untrusted project file may not")
    if not yes:
        print(f"trust {path} as it is now? [y/N] ", end="", flush=True)
        answer = sys.stdin.readline()
        if answer.strip().lower() not in ("y", "yes"):
            print("" if answer.endswith("\n") else "\n", end="")  # the answer's line ends here
            print(f"not trusted: {path} (nothing changed)")
            return EXIT_FAILED
    record = set_trust(path, raw)
    print(f"trusted {path} as it is now (its SHA-256 is recorded in {record}); a change to it ends the trust")
    if not use_project:
        print("(project files are ignored while --no-project or $QUORUM_NO_PROJECT is given)")
    return EXIT_OK


def _init_config(target: Path, force: bool) -> int:
    import tomli_w

    if target.exists() and not force:
        raise UsageError(f"{target} already exists; use --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    text = "# Quorum user config: overrides the shipped defaults (see `quorum config path`).\n"
    text += tomli_w.dumps(STARTER_CONFIG)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return EXIT_OK
