"""The official SDKs a trial sends through, one per API a body is written for.

- `anthropic` (Messages bodies): `ANTHROPIC_API_KEY` (or `ANTHROPIC_AUTH_TOKEN`) and
  `ANTHROPIC_BASE_URL`;
- `openai` (Chat Completions bodies): `OPENAI_API_KEY` and `OPENAI_BASE_URL`, for OpenAI or any
  OpenAI-compatible endpoint (a LiteLLM proxy, a vLLM server, Anthropic's OpenAI SDK
  compatibility endpoint).

Keys are read from the environment by the SDKs only; a message names the variable, never its
value. Each SDK retries 408/409/429/5xx with exponential backoff and honours `retry-after`. A body's
fields the SDK's method does not name (a gateway's or a newer API's extras) go as `extra_body`,
so the request is sent as it was logged.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from tierlens.errors import ConfigError, MissingExtraError

Send = Callable[[dict[str, Any]], dict[str, Any]]
APIS = ("anthropic", "openai")
DROPPED = {"anthropic": ("stream",), "openai": ("stream", "stream_options")}


def _split(create: Callable[..., Any], body: dict[str, Any]) -> dict[str, Any]:
    """`create`'s keyword arguments for `body`: the fields it names, the rest as `extra_body`."""
    named = set(inspect.signature(create).parameters)
    known = {k: v for k, v in body.items() if k in named}
    extra = {k: v for k, v in body.items() if k not in named}
    return known | ({"extra_body": extra} if extra else {})


def _sender(create: Callable[..., Any], refused: tuple[type[Any], ...], key_variable: str) -> Send:
    """A sender through the SDK method `create`. Both SDKs answer a bad key with one of the
    `refused` errors: it stops the trial, since every request after it would be refused too."""

    def send(body: dict[str, Any]) -> dict[str, Any]:
        try:
            got = create(**_split(create, body))
        except refused as exc:
            raise ConfigError(
                f"the API refused the key in {key_variable} ({exc.status_code}); the trial stopped"
            ) from None
        answer: dict[str, Any] = got.model_dump(mode="json")
        return answer

    return send


def anthropic_sender(max_retries: int = 5) -> Send:
    """A sender of Messages bodies through the `anthropic` SDK."""
    try:
        import anthropic
    except ImportError:
        raise MissingExtraError("trials need the Anthropic SDK: pip install 'tierlens[trial]'") from None
    client = anthropic.Anthropic(max_retries=max_retries)
    if client.api_key is None and client.auth_token is None:
        raise ConfigError("a trial needs ANTHROPIC_API_KEY in the environment")

    refused = (anthropic.AuthenticationError, anthropic.PermissionDeniedError)
    return _sender(client.messages.create, refused, "ANTHROPIC_API_KEY")


def openai_sender(max_retries: int = 5) -> Send:
    """A sender of Chat Completions bodies through the `openai` SDK."""
    try:
        import openai
    except ImportError:
        raise MissingExtraError(
            "trials of Chat Completions bodies need the OpenAI SDK: pip install 'tierlens[trial]'"
        ) from None
    try:
        client = openai.OpenAI(max_retries=max_retries)
    except openai.OpenAIError:
        raise ConfigError(
            "a trial of Chat Completions bodies needs OPENAI_API_KEY in the environment"
        ) from None

    refused = (openai.AuthenticationError, openai.PermissionDeniedError)
    return _sender(client.chat.completions.create, refused, "OPENAI_API_KEY")


class SdkSenders:
    """The sender of each API, made on first use (an Anthropic-only trial needs no OpenAI key)."""

    makers: ClassVar[dict[str, Callable[[int], Send]]] = {
        "anthropic": anthropic_sender,
        "openai": openai_sender,
    }

    def __init__(self, max_retries: int = 5) -> None:
        self.max_retries = max_retries
        self._made: dict[str, Send] = {}
        self._lock = threading.Lock()

    def __call__(self, api: str) -> Send:
        with self._lock:
            if api not in self._made:
                self._made[api] = self.makers[api](self.max_retries)
            return self._made[api]


Senders = Callable[[str], Send]


UNCAPPED_OUTPUT = 16_384  # the output cap a trial gives a body that names none
CAP_FIELD = {"anthropic": "max_tokens", "openai": "max_completion_tokens"}


def prepared(api: str, body: dict[str, Any], model: str, cap: int | None) -> dict[str, Any]:
    """`body` as a trial sends it to `model`: the model set, streaming off (an answer is read
    whole), and a body that names no output cap given `UNCAPPED_OUTPUT` (without one, no worst
    case bounds what the request can cost)."""
    sent = {k: v for k, v in body.items() if k not in DROPPED[api]} | {"model": model}
    return sent | ({CAP_FIELD[api]: UNCAPPED_OUTPUT} if cap is None else {})
