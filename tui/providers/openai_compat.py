"""OpenAI-compatible chat completions, streamed with usage: OpenAI, OpenRouter, Gemini's OpenAI
endpoint, Groq, DeepSeek, Mistral, and local servers (Ollama, vLLM, LM Studio) by `base_url`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING, Any, Unpack, cast

from tui.engine.provider import (
    ChatMessage,
    ChatRequest,
    ErrorKind,
    Finished,
    GatewayRetried,
    ProviderError,
    StreamEvent,
    StructuredOutput,
    TextDelta,
    Usage,
)
from tui.engine.types import VoteForm
from tui.providers.gateway import answered_by_litellm, gateway_retries
from tui.providers.image_body import ImageSlots
from tui.providers.sdk_adapter import ClientOptions, Listed, SDKAdapter, SDKErrors

if TYPE_CHECKING:  # the SDK itself loads in a thread, when the provider is first used
    import httpx2
    import openai
    from openai import AsyncOpenAI
    from openai.types.chat import ChatCompletionMessageParam
    from openai.types.chat.completion_create_params import ResponseFormat

DEFAULT_BASE_URL = "https://api.openai.com/v1"
"""Where a provider of kind `openai` with no `base_url` is reached: OpenAI itself."""


class OpenAICompatProvider(SDKAdapter["AsyncOpenAI"]):
    """One `AsyncOpenAI` client for one configured provider, reused for every call."""

    sdk = "openai"

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        max_tokens_param: str = "max_tokens",
        **options: Unpack[ClientOptions],
    ) -> None:
        self.max_tokens_param = max_tokens_param
        super().__init__(name, base_url=base_url, **options)

    def _new_client(self, *, api_key: str, max_retries: int, timeout: httpx2.Timeout) -> AsyncOpenAI:
        import openai

        client = openai.AsyncOpenAI(
            api_key=api_key, base_url=self.base_url, max_retries=max_retries, timeout=timeout
        )
        client.chat.completions  # noqa: B018 -- the SDK imports its resources on first use: here
        return client

    def _listing(self, client: AsyncOpenAI) -> AsyncIterable[Listed]:
        return client.models.list()

    def _errors(self) -> SDKErrors:
        import openai

        return openai

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        client = await self._ready()  # loaded in a thread: the loop never waits on an import
        import httpx2
        import openai  # loaded with the client: a look-up

        from tui.providers.errors import format_refusal, from_status, from_transport, malformed

        ctx = self.context(request)
        images = ImageSlots()
        messages: list[dict[str, Any]] = [{"role": "system", "content": request.system}]
        messages += [wire_message(m, images) for m in request.messages]
        limit = request.max_output_tokens
        structured = request.structured
        wants_format = structured is not None and structured.form is not VoteForm.TEXT
        received = refused = False
        finish_reason: str | None = None
        response_headers: httpx2.Headers | None = None
        try:
            if images:  # sent as made, base64 and all (see `tui.providers.image_body`)
                body: dict[str, Any] = {
                    "model": request.model_id,
                    "messages": messages,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                    self.max_tokens_param: limit,
                }
                if request.temperature is not None:
                    body["temperature"] = request.temperature
                if structured is not None and wants_format:
                    body["response_format"] = response_format(structured, ctx.who)
                chat = openai.types.chat
                stream = await client.post(
                    "/chat/completions",
                    cast_to=chat.ChatCompletion,
                    content=images.encode(body),
                    options={"security": {"bearer_auth": True}},  # as `create` asks for the key
                    stream=True,
                    stream_cls=openai.AsyncStream[chat.ChatCompletionChunk],
                )
            else:
                omit = openai.omit  # a field left out of the request
                stream = await client.chat.completions.create(
                    model=request.model_id,
                    # Made as the wire takes them (`wire_message`), not as the SDK's types.
                    messages=cast("list[ChatCompletionMessageParam]", messages),
                    stream=True,
                    stream_options={"include_usage": True},
                    # The output limit's field is the provider's: OpenAI's newer models want the other.
                    max_tokens=limit if self.max_tokens_param == "max_tokens" else omit,
                    max_completion_tokens=limit if self.max_tokens_param != "max_tokens" else omit,
                    temperature=omit if request.temperature is None else request.temperature,
                    response_format=(
                        cast("ResponseFormat", response_format(structured, ctx.who))
                        if structured is not None and wants_format
                        else omit
                    ),
                )
            # Kept for an error event later in the stream: a gateway is known by its headers.
            response_headers = getattr(getattr(stream, "response", None), "headers", None)
            retried = gateway_retries(response_headers)
            if retried is not None:  # the gateway's retries before this answer, not Quorum's
                yield GatewayRetried(retried)
            counted_by_gateway = bool(self.gateway) or answered_by_litellm(response_headers)
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                    yield Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0, counted_by_gateway)
                for choice in chunk.choices:
                    if choice.delta is not None and choice.delta.content:
                        received = True
                        yield TextDelta(choice.delta.content)
                    # The model declined: its words come in a field of their own.
                    declined: str | None = getattr(choice.delta, "refusal", None)
                    if declined:
                        received = refused = True
                        yield TextDelta(declined)
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
        except openai.APIStatusError as err:
            if structured is not None and structured.form is not VoteForm.TEXT:
                refusal = format_refusal(ctx, err.status_code, _openai_message(err), structured.form.value)
                if refusal is not None:
                    raise refusal from err
            raise from_status(
                ctx,
                err.status_code,
                _openai_message(err),
                error_type=_openai_type(err),
                headers=err.response.headers,
            ) from err
        except (openai.APIConnectionError, httpx2.TransportError) as err:
            raise from_transport(ctx, err, received_text=received) from err
        except json.JSONDecodeError as err:
            raise malformed(ctx, err) from err
        except openai.APIError as err:
            # An error object inside an otherwise healthy stream: no HTTP status of its own.
            raise from_status(
                ctx, 200, _openai_message(err), error_type=_openai_type(err), headers=response_headers
            ) from err
        except ProviderError:
            raise
        if finish_reason is not None:
            yield Finished("refusal" if refused and finish_reason == "stop" else finish_reason)


def wire_message(message: ChatMessage, images: ImageSlots) -> dict[str, Any]:
    """A message as chat completions take it: its text, or, with images, a list of content parts,
    the text first and each image as an `image_url` part carrying a base64 `data:` URL (written as
    its stand-in in `images`)."""
    if not message.images:
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    parts += [
        {"type": "image_url", "image_url": {"url": f"data:{image.media_type};base64,{images.slot(image)}"}}
        for image in message.images
    ]
    return {"role": message.role, "content": parts}


def response_format(structured: StructuredOutput, who: str) -> dict[str, Any]:
    """The `response_format` of a structured request: OpenAI's strict `json_schema` (OpenAI, vLLM,
    Ollama, LM Studio), or `json_object` carrying the schema, which llama.cpp's server holds the
    answer to with a grammar (and others take as plain JSON mode)."""
    schema = dict(structured.schema)
    if structured.form is VoteForm.JSON_SCHEMA:
        return {
            "type": "json_schema",
            "json_schema": {
                "name": structured.name,
                "description": structured.description,
                "schema": schema,
                "strict": True,
            },
        }
    if structured.form is VoteForm.JSON_OBJECT:
        return {"type": "json_object", "schema": schema}
    # A tool call is Anthropic's form here; the catalog does not let an OpenAI-compatible model
    # be set to it, and a request that asks anyway is refused the way a server would.
    raise ProviderError(
        ErrorKind.FORMAT_REFUSED, f"{who}: structured output as a {structured.form.value} is not sent here"
    )


def _openai_message(err: openai.APIError) -> str:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return str(getattr(err, "message", "") or "")


def _openai_type(err: openai.APIError) -> str:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("type") or inner.get("code") or "")
    return ""
