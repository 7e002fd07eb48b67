"""One chat completion from any OpenAI-compatible endpoint, bounded in time and tokens.

The `openai` client talks to OpenAI, to Gemini (base URL
``https://generativelanguage.googleapis.com/v1beta/openai/``), to vLLM, Ollama or LiteLLM alike.
Its own retries are switched off (`max_retries=0`) so that one policy, here, decides: tenacity
retries timeouts, connection errors, 429 and 5xx with exponential backoff and jitter, and gives
up after `attempts` tries or once `deadline_s` has passed. Client errors (400, 401, 404) are not
retried: they would fail the same way. `max_tokens` caps each answer and `TokenBudget` caps a
whole run (e.g. one nightly precompute), so cost has a ceiling.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Literal

import openai
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from smartstack.settings import LLMSettings

log = logging.getLogger(__name__)

# Characters per token, to charge the budget when an endpoint reports no usage.
CHARS_PER_TOKEN = 4


class LLMError(Exception):
    """The endpoint gave no usable answer; `kind` says whether it was too slow or failing."""

    def __init__(self, kind: Literal["timeout", "error"], detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Completion:
    text: str
    total_tokens: int
    truncated: bool


class TokenBudget:
    """A ceiling on the tokens one run may spend; thread-safe, checked before each call."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def available(self) -> bool:
        with self._lock:
            return self.used < self.limit

    def charge(self, tokens: int) -> None:
        with self._lock:
            self.used += tokens


def is_transient(error: BaseException) -> bool:
    """Timeouts, dropped connections, rate limits and server errors may pass on a retry."""
    if isinstance(error, openai.APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(error, openai.APIStatusError) and (
        error.status_code == 429 or error.status_code >= 500
    )


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.info("LLM attempt %d failed (%s); retrying", state.attempt_number, type(error).__name__)


class LLMClient:
    """A thread-safe chat-completion caller for one model."""

    def __init__(self, config: LLMSettings) -> None:
        self.config = config
        self._client = openai.OpenAI(
            base_url=config.base_url,
            # Local servers need no key, but the client insists on one.
            api_key=config.api_key.get_secret_value() if config.api_key else "not-needed",
            timeout=config.timeout_s,
            max_retries=0,
        )

    @property
    def model(self) -> str:
        return self.config.model

    def complete(self, messages: list[dict[str, str]]) -> Completion:
        """One answer, retried on transient failures; raises `LLMError` when there is none."""
        c = self.config
        retrying = Retrying(
            stop=stop_after_attempt(c.attempts) | stop_after_delay(c.deadline_s),
            wait=wait_exponential_jitter(initial=c.backoff_initial_s, max=c.backoff_max_s),
            retry=retry_if_exception(is_transient),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            response = retrying(
                self._client.chat.completions.create,
                model=c.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=c.max_tokens,
                temperature=c.temperature,
            )
        except openai.APITimeoutError as error:
            raise LLMError("timeout", f"no answer within {c.timeout_s}s") from error
        except openai.APIStatusError as error:
            raise LLMError("error", f"HTTP {error.status_code}") from error
        except openai.OpenAIError as error:
            raise LLMError("error", type(error).__name__) from error
        if not response.choices:
            raise LLMError("error", "no choices in the answer")
        choice = response.choices[0]
        text = choice.message.content or ""
        used = response.usage.total_tokens if response.usage else None
        if used is None:
            used = (sum(len(m["content"]) for m in messages) + len(text)) // CHARS_PER_TOKEN
        return Completion(
            text=text,
            total_tokens=used,
            truncated=choice.finish_reason == "length",
        )
