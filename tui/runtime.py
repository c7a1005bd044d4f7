"""What both front ends need to start a run: providers, attached files, the history, the run itself.

The dashboard and `quorum run` build their requests through a `Session`; this module turns a
request into a running `Run` the same way for both: one provider adapter (one SDK client) per
configured provider, the files read, the recorder attached to the history, the settings the run
used snapshotted for its record. The engine itself touches no file, database or network.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.config import paths
from tui.config.catalog import secret_values
from tui.config.schema import ProviderConfig, Settings
from tui.engine import events as ev
from tui.engine.provider import ErrorKind, Provider, ProviderError
from tui.engine.slots import limit_calls
from tui.engine.types import Attachment, CallResult, Member, PriorTurn, RunRequest, RunResult, RunStatus
from tui.engine.validators import build_validators
from tui.errors import AttachmentError, UsageError, redact
from tui.files import FileMissing, FileRefused, FileTooBig, NotText, read_limited, utf8_text
from tui.history.replay import prior_turns
from tui.history.store import RunStore

if TYPE_CHECKING:  # the adapters (and httpx2) load only when a real provider is first used
    from tui.engine.orchestrator import ProviderLookup, Run
    from tui.providers.openai_embeddings import OpenAIEmbedder
    from tui.providers.sdk_adapter import ClientOptions

MAX_ATTACHMENT_BYTES = 2_000_000
"""The most an attached text file may hold: about 500,000 tokens, more than most members can read."""


class ProviderPool:
    """Hands the orchestrator the adapter for a member's provider: one per configured provider, made
    on first use, with the provider's limit on calls in flight (`max_concurrency`) if it has one."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self._settings = settings
        self._environ = os.environ if environ is None else environ
        self._providers: dict[str, Provider] = {}

    def __call__(self, member: Member) -> Provider:
        return self.named(member.provider)

    def named(self, name: str) -> Provider:
        """The adapter of the provider configured as `name`, made on first use (a key not set is
        a `ProviderError` naming its variable)."""
        provider = self._providers.get(name)
        if provider is None:
            config = self._settings.providers[name]
            provider = self._make(name, config)
            # With the adapter, not a run: every run of this process shares the server's limit.
            limit_calls(provider, config.max_concurrency)
            self._providers[name] = provider
        return provider

    def _make(self, name: str, config: ProviderConfig) -> Provider:
        if config.kind == "demo":
            from tui.providers.demo import DemoProvider

            return DemoProvider(speed=self._settings.demo.speed)
        base_url = (
            self._environ.get(config.base_url_env) if config.base_url_env else None
        ) or config.base_url
        if config.api_key_env:
            api_key = self._environ.get(config.api_key_env, "")
            if not api_key:
                raise ProviderError(
                    ErrorKind.MISSING_KEY,
                    f"{config.api_key_env} is not set: export it with your {name} key, or pick another "
                    "model (`quorum models` shows which keys are set)",
                )
        else:
            api_key = "not-needed"  # local servers (Ollama, vLLM) take any key
        common: ClientOptions = {
            "api_key": api_key,
            "api_key_env": config.api_key_env or "",
            # The engine retries (and says so on the member's pane); a silent SDK retry would
            # leave the pane "waiting" through every Retry-After.
            "max_retries": 0,
            "read_timeout_s": config.read_timeout_s,
            "gateway": config.gateway_name,
        }
        if config.kind == "anthropic":
            from tui.providers.anthropic_messages import AnthropicProvider

            return AnthropicProvider(name, base_url=base_url or "https://api.anthropic.com", **common)
        from tui.providers.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(
            name,
            base_url=base_url or "https://api.openai.com/v1",
            max_tokens_param=config.max_tokens_param,
            **common,
        )

    def warm(self, members: Iterable[Member]) -> None:
        """Make the adapters `members` will use now, so their SDKs load (in a thread of their own)
        while the user types, not while the first question waits. A provider that cannot be made
        (a key not set) is left for its call to report."""
        for member in members:
            try:
                self(member)
            except ProviderError:
                continue

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()


def warm_validators() -> threading.Thread:
    """Build the engine's validators in a thread of their own (see `tui.engine.validators`), for
    a long-lived front end to call once it is up: the first run then starts without them."""
    thread = threading.Thread(target=build_validators, name="quorum validators", daemon=True)
    thread.start()
    return thread


def remote_embedder(settings: Settings, name: str) -> OpenAIEmbedder:
    """The cache's `[embedders]` entry `name` on its OpenAI-compatible provider, keyed from the
    environment as a chat call is (an `EmbeddingError` names the variable when the key is not set)."""
    from tui.providers.openai_embeddings import EmbeddingError, OpenAIEmbedder

    config = settings.embedders[name]
    provider = settings.providers[config.provider]
    base_url = (os.environ.get(provider.base_url_env) if provider.base_url_env else None) or provider.base_url
    api_key = "not-needed"  # a local server (Ollama, vLLM) takes any key
    if provider.api_key_env:
        api_key = os.environ.get(provider.api_key_env, "")
        if not api_key:
            raise EmbeddingError(f"{provider.api_key_env} is not set: the {name} embedder cannot be used")
    return OpenAIEmbedder(
        provider=config.provider,
        model_id=config.id,
        base_url=base_url or "https://api.openai.com/v1",
        api_key=api_key,
        timeout_s=min(provider.read_timeout_s, 30.0),
    )


# --------------------------------------------------------------------------------------------
# Attached files


def read_attachment(path: str | Path) -> Attachment:
    """A file attached to a question, read as UTF-8 text (a regular file of at most
    `MAX_ATTACHMENT_BYTES`); `AttachmentError` says why it cannot be."""
    file = Path(path).expanduser()
    try:
        data = read_limited(file, MAX_ATTACHMENT_BYTES)
        text = utf8_text(data)
    except FileTooBig as err:
        raise AttachmentError(f"cannot attach {path}: {err.reason} for an attached file") from None
    except FileRefused as err:
        raise AttachmentError(f"cannot attach {path}: {err.reason}") from None
    except NotText as err:
        raise AttachmentError(f"cannot attach {path}: {err}; only text can be attached") from None
    return Attachment(
        path=str(path),
        content=text,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        full_path=str(file.resolve()),
    )


def attachment_changes(attachments: Iterable[Attachment], run_id: str) -> list[str]:
    """A note for each recorded file that is no longer on disk as it was when run `run_id` sent it
    (changed since, or gone): a rerun sends the recorded text, what was asked, and says so."""
    notes = []
    for attachment in attachments:
        file = Path(attachment.full_path or attachment.path).expanduser()
        try:
            data = read_limited(file, MAX_ATTACHMENT_BYTES)
            changed = hashlib.sha256(data).hexdigest() != attachment.sha256
        except FileMissing:
            notes.append(f"{attachment.path} is no longer on disk: the text run {run_id} sent is used")
            continue
        except FileTooBig:
            changed = True  # the file that was sent was within the limit
        except FileRefused as err:
            notes.append(
                f"{attachment.path} cannot be read now ({err.reason}): the text run {run_id} sent is used"
            )
            continue
        if changed:
            notes.append(
                f"{attachment.path} has changed on disk since run {run_id}: "
                "the text sent then is used, not the file as it is now"
            )
    return notes


# --------------------------------------------------------------------------------------------
# History


def open_store(settings: Settings) -> RunStore | None:
    """The history the settings ask for, or None when recording is turned off ([store] enabled)."""
    if not settings.store.enabled:
        return None
    return RunStore(
        paths.history_file(settings.store.path),
        secrets=secret_values(settings),
        lock_wait_s=settings.store.lock_wait_s,
    )


WAIT_NOTICE_S = 1.0
"""How long the end of a run waits for its record before the front end says why it waits."""

CLOSING_WAIT_S = 10.0
"""How long a front end that is closing (the dashboard quit, the MCP server shut down) waits for
the history to take the writes still in line, such as the end of a run quitting cancelled: past
it they are left, and the run reads as interrupted."""

NOT_RECORDED = "not recorded in the history"
"""How the error of a run the history could not record begins."""


async def finish_recording(
    store: RunStore | None, result: RunResult, *, waiting: Callable[[str], None] | None = None
) -> str | None:
    """Wait until the history holds the run `result` as it ended (its writes wait at most
    `[store] lock_wait_s` for another process's lock). A run it could not record is no success:
    it ends as failed (its answer kept) with one line saying why, which is returned. `waiting` is
    told, once, if the record is not there within `WAIT_NOTICE_S`."""
    if store is None:
        return None
    recorded = asyncio.ensure_future(store.recorded(result.run_id))
    done, _ = await asyncio.wait([recorded], timeout=WAIT_NOTICE_S)
    if not done and waiting is not None:
        waiting(
            f"run {result.run_id} is not in the history yet (another process may hold it locked): "
            f"waiting up to {store.lock_wait_s:g} s for it"
        )
    try:
        problem = await recorded
    finally:
        recorded.cancel()
    return None if problem is None else not_recorded(result, problem)


def not_recorded(result: RunResult, why: str) -> str:
    """End `result`, which the history does not hold, as failed (its answer kept) with one line
    saying why; return that line."""
    message = f"{NOT_RECORDED}: {why}"
    result.errors.append(message)
    if result.status is RunStatus.SUCCESS:
        result.status = RunStatus.ERROR
    return message


def follow_up_thread(store: RunStore | None, run: str, depth: int) -> list[PriorTurn]:
    """The context of a follow-up to `run` (an id or the start of one): it and up to `depth - 1`
    of its ancestors, oldest first."""
    if store is None:
        raise UsageError("a follow-up needs the run history, which is turned off ([store] enabled)")
    try:
        run_id = store.resolve(run)
    except KeyError as err:
        raise UsageError(str(err.args[0])) from None
    return prior_turns(store.thread(run_id, depth))


def settings_snapshot(settings: Settings, request: RunRequest) -> dict[str, Any]:
    """What a run's settings were, for its record: the run, demo and prompt settings, and the
    catalog entries and providers of the models it used (not the whole catalog every time).
    Keys are never part of settings: providers name only the variables that hold them."""
    aliases = {m.alias for m in request.members} | {s.alias for s in request.synthesizers}
    models = {name: model for name, model in settings.models.items() if name in aliases}
    providers = {model.provider for model in models.values()}
    asked = {  # the request's own values win: a rerun of a recorded run asks what that run asked
        "mode": request.mode.value,
        "max_rounds": request.max_rounds,
        "majority_threshold": request.majority_threshold,
        "quorum": request.quorum,
        "token_budget": request.token_budget,
    }
    return {
        "run": {**settings.run.model_dump(mode="json"), **asked},
        "demo": settings.demo.model_dump(mode="json"),
        "prompts": settings.prompts.model_dump(mode="json"),
        "models": {name: model.model_dump(mode="json") for name, model in models.items()},
        "providers": {
            name: _without_credentials(provider.model_dump(mode="json"))
            for name, provider in settings.providers.items()
            if name in providers
        },
    }


def _without_credentials(provider: dict[str, Any]) -> dict[str, Any]:
    """A provider's settings with the user-info of its base URL (`http://user:key@host`) redacted."""
    if provider.get("base_url"):
        provider["base_url"] = redact(provider["base_url"])
    return provider


# --------------------------------------------------------------------------------------------
# Starting a run


def start_run(
    settings: Settings,
    request: RunRequest,
    providers: ProviderLookup,
    sinks: Iterable[ev.EventSink],
    *,
    store: RunStore | None = None,
    reuse: Mapping[int, CallResult] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Run:
    """A `Run` of `request` whose events go to `sinks` and, when there is a history, to a recorder
    (every run is recorded, including one a rerun later replaces). Call `execute()` to run it."""
    # Imported here: a command that is answered without a run (a cache hit) never loads them.
    from tui.engine.orchestrator import Run
    from tui.history.recorder import RunRecorder

    targets = list(sinks)
    if store is not None:
        targets.append(
            RunRecorder(
                store, config=settings_snapshot(settings, request), parent_run_id=request.parent_run_id
            )
        )
    return Run(
        request,
        providers,
        ev.fan_out(*targets),
        base_prompt=settings.prompts.base,
        reuse=reuse,
        clock=clock,
    )
