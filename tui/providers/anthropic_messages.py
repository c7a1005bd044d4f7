"""Anthropic's Messages API, streamed.

The 2.x SDK's `messages.create` takes no sampling temperature, so none is sent; the catalog
refuses a temperature on an Anthropic model rather than silently dropping it.

A structured answer (a vote) is asked for as a forced call of one tool whose input schema is the
answer's: the tool's input streams as `input_json_delta` pieces, passed on as `StructuredDelta`s,
apart from any text block the model writes beside the call (`TextDelta`s).
"""

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
    StructuredDelta,
    StructuredOutput,
    TextDelta,
    Usage,
)
from tui.engine.types import VoteForm
from tui.providers.gateway import answered_by_litellm, gateway_retries
from tui.providers.image_body import ImageSlots
from tui.providers.sdk_adapter import ClientOptions, Listed, SDKAdapter, SDKErrors

if TYPE_CHECKING:  # the SDK itself loads in a thread, when the provider is first used
    import anthropic
    import httpx2
    from anthropic import AsyncAnthropic
    from anthropic.types import MessageParam, ToolChoiceParam, ToolUnionParam

DEFAULT_BASE_URL = "https://api.anthropic.com"
"""Where a provider of kind `anthropic` with no `base_url` is reached: Anthropic itself."""


class AnthropicProvider(SDKAdapter["AsyncAnthropic"]):
    """One `AsyncAnthropic` client, reused for every call."""

    sdk = "anthropic"  # importing it alone costs a second or more

    def __init__(self, name: str, *, base_url: str, **options: Unpack[ClientOptions]) -> None:
        super().__init__(name, base_url=base_url, **options)

    def _new_client(self, *, api_key: str, max_retries: int, timeout: httpx2.Timeout) -> AsyncAnthropic:
        import anthropic

        client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=self.base_url, max_retries=max_retries, timeout=timeout
        )
        client.messages  # noqa: B018 -- the SDK imports its resources on first use: here
        return client

    def _listing(self, client: AsyncAnthropic) -> AsyncIterable[Listed]:
        # Anthropic's largest page: one request, not one per 20 models.
        return client.models.list(limit=1000)

    def _errors(self) -> SDKErrors:
        import anthropic

        return anthropic

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        client = await self._ready()  # loaded in a thread: the loop never waits on an import
        import anthropic  # loaded with the client: a look-up
        import httpx2

        from tui.providers.errors import format_refusal, from_status, from_transport, malformed

        ctx = self.context(request)
        received = False
        input_tokens = output_tokens = 0
        stop_reason: str | None = None
        stopped = False
        structured = request.structured
        options = tool_options(structured, ctx.who) if structured is not None else {}
        images = ImageSlots()
        body: dict[str, Any] = {
            "model": request.model_id,
            "max_tokens": request.max_output_tokens,
            "system": request.system,
            "messages": [wire_message(m, images) for m in request.messages],
            "stream": True,
            **options,
        }
        try:
            if images:  # sent as made, base64 and all (see `tui.providers.image_body`)
                stream = await client.post(
                    "/v1/messages",
                    cast_to=anthropic.types.Message,
                    content=images.encode(body),
                    stream=True,
                    stream_cls=anthropic.AsyncStream[anthropic.types.RawMessageStreamEvent],
                )
            else:
                omit = anthropic.omit  # a field left out of the request
                stream = await client.messages.create(
                    model=request.model_id,
                    max_tokens=request.max_output_tokens,
                    system=request.system,
                    # Made as the wire takes them (`wire_message`, `tool_options`), not as the SDK's types.
                    messages=cast("list[MessageParam]", body["messages"]),
                    stream=True,
                    tools=cast("list[ToolUnionParam]", options["tools"]) if options else omit,
                    tool_choice=cast("ToolChoiceParam", options["tool_choice"]) if options else omit,
                )
            # A LiteLLM proxy serves this format too, and says how often it retried.
            headers = getattr(getattr(stream, "response", None), "headers", None)
            retried = gateway_retries(headers)
            if retried is not None:
                yield GatewayRetried(retried)
            # Served from a model in OpenAI's format, it sends none of its headers: only a
            # provider configured as a gateway is known as one then.
            counted_by_gateway = bool(self.gateway) or answered_by_litellm(headers)
            async for event in stream:
                if event.type == "message_start":
                    input_tokens = event.message.usage.input_tokens or 0
                    output_tokens = event.message.usage.output_tokens or 0
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    received = True
                    yield TextDelta(event.delta.text)
                elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                    # The forced tool's input: the structured answer itself, as it is written,
                    # never joined to the words of a text block beside it.
                    if event.delta.partial_json:
                        received = True
                        yield StructuredDelta(event.delta.partial_json)
                elif event.type == "message_delta":
                    stop_reason = event.delta.stop_reason or stop_reason
                    # Its counts are the message's so far; the input's may come only here (0 at
                    # the start from a LiteLLM proxy serving a model in OpenAI's format).
                    input_tokens = event.usage.input_tokens or input_tokens
                    output_tokens = event.usage.output_tokens or output_tokens
                elif event.type == "message_stop":
                    stopped = True
        except anthropic.APIStatusError as err:
            # Status 200 here is an `event: error` inside a stream that had started fine.
            error_type, message = _anthropic_error(err)
            if options and structured is not None:
                refusal = format_refusal(ctx, err.status_code, message, structured.form.value)
                if refusal is not None:
                    raise refusal from err
            raise from_status(
                ctx, err.status_code, message, error_type=error_type, headers=err.response.headers
            ) from err
        except (anthropic.APIConnectionError, httpx2.TransportError) as err:
            # The SDK lets raw httpx2 errors (RemoteProtocolError, ReadTimeout) escape a stream.
            raise from_transport(ctx, err, received_text=received) from err
        except json.JSONDecodeError as err:
            raise malformed(ctx, err) from err
        yield Usage(input_tokens, output_tokens, counted_by_gateway)
        if stopped or stop_reason is not None:
            yield Finished(stop_reason or "end_turn")


def wire_message(message: ChatMessage, images: ImageSlots) -> dict[str, Any]:
    """A message as the Messages API takes it: its text, or, with images, a list of content
    blocks, each image as a base64 `image` block (written as its stand-in in `images`) ahead of
    the text, where Anthropic's guide puts them: a model reads the question with the images seen."""
    if not message.images:
        return {"role": message.role, "content": message.content}
    blocks: list[dict[str, Any]] = [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": image.media_type, "data": images.slot(image)},
        }
        for image in message.images
    ]
    blocks.append({"type": "text", "text": message.content})
    return {"role": message.role, "content": blocks}


def tool_options(structured: StructuredOutput, who: str) -> dict[str, Any]:
    """The `tools` and `tool_choice` of a structured request: one tool, whose input schema is the
    answer's, that the model must call, once."""
    if structured.form is VoteForm.TEXT:
        return {}
    if structured.form is not VoteForm.TOOL:
        # JSON modes are OpenAI-compatible forms; the catalog does not let an Anthropic model be
        # set to one, and a request that asks anyway is refused the way a server would.
        raise ProviderError(
            ErrorKind.FORMAT_REFUSED, f"{who}: structured output as {structured.form.value} is not sent here"
        )
    tool = {
        "name": structured.name,
        "description": structured.description,
        "input_schema": dict(structured.schema),
    }
    return {
        "tools": [tool],
        "tool_choice": {"type": "tool", "name": structured.name, "disable_parallel_tool_use": True},
    }


def _anthropic_error(err: anthropic.APIStatusError) -> tuple[str, str]:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("type") or ""), str(inner.get("message") or "")
    return "", str(getattr(err, "message", "") or "")
