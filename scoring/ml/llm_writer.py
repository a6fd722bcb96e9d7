"""Optional rewriting of simulated conversations by a chat model (OpenAI or Azure OpenAI).

Why: the simulator's template text is deliberately bounded (every distinct text is embedded), so it
reads repetitive. For demos, and to check that a model trained on templates still works on freer
wording, a chat model can rewrite each turn. Everything the labels depend on is kept: the speakers,
the rep's acts, the outcome and `meta.leak_turn`; the prompt asks the model not to reveal the outcome
before that turn. One chat.completions call per conversation, JSON in and out.

A bad model answer (not JSON, wrong number of turns, empty or absurdly long texts, truncated, refused,
a transient API error) never raises: the original texts are kept and `meta.llm_rewritten` is false,
with the reason in `meta.llm_error`. Configuration errors (bad key, unknown model or deployment) do
raise, because every later call would fail the same way.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from typing import Any

import openai
from openai import AzureOpenAI, OpenAI

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_AZURE_API_VERSION = "2024-10-21"
MAX_TURN_CHARS = 1500  # a rewritten turn longer than this is a runaway answer, not a sales message
# Errors that mean the client is misconfigured: retrying with the next conversation cannot help.
CONFIGURATION_ERRORS: tuple[type[Exception], ...] = (
    openai.AuthenticationError,
    openai.PermissionDeniedError,
    openai.NotFoundError,
)

SYSTEM_PROMPT = """You rewrite simulated sales conversations so they read like real ones.
You receive JSON with the industry, the product, the channel (chat or call) and the turns, each with
its index, speaker ("rep" or "customer"), for rep turns the rep's intent ("act"), and the text.
Rewrite every turn's text naturally for that industry and channel (typed chat: short, informal;
call: spoken, with the occasional filler). Keep each turn's meaning, intent, speaker, numbers, prices
and names. Do not merge, split, add or drop turns. Never reveal whether the deal is won or lost
before the turn given as "outcome_turn"; if "outcome_turn" is not null, that turn must still state
the decision as clearly as the original. Answer with JSON only: {"turns": ["text of turn 0", ...]},
exactly one string per input turn, in order."""


class MalformedAnswer(ValueError):
    """The model's answer cannot be used as a rewrite of the conversation."""


def client_from_env(
    environ: Mapping[str, str] | None = None, *, max_retries: int = 2, timeout: float = 60.0
) -> OpenAI | AzureOpenAI | None:
    """The configured chat client, or None when neither OpenAI nor Azure OpenAI is configured.

    OpenAI when OPENAI_API_KEY is set (OPENAI_BASE_URL honoured, e.g. a local proxy); otherwise Azure
    OpenAI when AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY are set (AZURE_OPENAI_API_VERSION,
    default 2024-10-21; the model name is then the deployment name).
    """
    env = os.environ if environ is None else environ
    if env.get("OPENAI_API_KEY"):
        return OpenAI(
            api_key=env["OPENAI_API_KEY"],
            base_url=env.get("OPENAI_BASE_URL") or None,
            max_retries=max_retries,
            timeout=timeout,
        )
    if env.get("AZURE_OPENAI_ENDPOINT") and env.get("AZURE_OPENAI_API_KEY"):
        return AzureOpenAI(
            azure_endpoint=env["AZURE_OPENAI_ENDPOINT"],
            api_key=env["AZURE_OPENAI_API_KEY"],
            api_version=env.get("AZURE_OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION,
            max_retries=max_retries,
            timeout=timeout,
        )
    return None


def build_request(record: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON payload sent as the user message: turns with speakers, rep acts and the outcome turn."""
    meta = record.get("meta") or {}
    acts = iter(meta.get("rep_acts") or [])
    turns = record["turns"]
    leak_turn = meta.get("leak_turn")
    payload_turns = []
    for i, turn in enumerate(turns):
        item: dict[str, Any] = {"i": i, "speaker": turn["speaker"]}
        if turn["speaker"] == "rep":
            item["act"] = next(acts, None)
        item["text"] = turn["text"]
        payload_turns.append(item)
    return {
        "industry": meta.get("industry"),
        "product": meta.get("product"),
        "channel": meta.get("channel"),
        "outcome_turn": leak_turn if isinstance(leak_turn, int) and leak_turn < len(turns) else None,
        "n_turns": len(turns),
        "turns": payload_turns,
    }


def parse_answer(content: str | None, turns: list[Mapping[str, Any]]) -> list[str]:
    """Validate the model's JSON answer against the original turns; raise MalformedAnswer if unusable.

    Accepts {"turns": ["...", ...]} or {"turns": [{"text": "...", "speaker": ...}, ...]} (a speaker, when
    given, must match) or a bare JSON list of either.
    """
    if not content:
        raise MalformedAnswer("empty answer")
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise MalformedAnswer(f"not JSON: {exc.msg}") from None
    items = data.get("turns") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise MalformedAnswer("no 'turns' list")
    if len(items) != len(turns):
        raise MalformedAnswer(f"{len(items)} turns instead of {len(turns)}")
    texts = []
    for i, (item, original) in enumerate(zip(items, turns, strict=True)):
        if isinstance(item, dict):
            speaker = item.get("speaker")
            if speaker is not None and speaker != original["speaker"]:
                raise MalformedAnswer(f"turn {i}: speaker {speaker!r} instead of {original['speaker']!r}")
            item = item.get("text")
        if not isinstance(item, str) or not item.strip():
            raise MalformedAnswer(f"turn {i}: no text")
        if len(item) > MAX_TURN_CHARS:
            raise MalformedAnswer(f"turn {i}: {len(item)} characters")
        texts.append(item.strip())
    return texts


class OpenAIConversationWriter:
    """Rewrites a simulated conversation's texts with a chat model, keeping its structure and labels."""

    def __init__(
        self,
        client: OpenAI | AzureOpenAI,
        model: str = DEFAULT_MODEL,
        *,
        temperature: float | None = None,
    ) -> None:
        self.client = client
        self.model = model
        self.temperature = temperature  # None: the model's default (some models accept no other)

    def _ask(self, record: Mapping[str, Any]) -> str | None:
        extra: dict[str, Any] = {} if self.temperature is None else {"temperature": self.temperature}
        response = self.client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": json.dumps(build_request(record), ensure_ascii=False)},
            ],
            response_format={"type": "json_object"},
            **extra,
        )
        if not response.choices:
            raise MalformedAnswer("no choices")
        choice = response.choices[0]
        if choice.finish_reason not in (None, "stop"):
            raise MalformedAnswer(f"finish_reason {choice.finish_reason}")
        return choice.message.content

    def rewrite(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of the record with rewritten texts, or the original texts on any bad answer."""
        out = copy.deepcopy(dict(record))
        meta = out.setdefault("meta", {})
        meta["llm_model"] = self.model
        try:
            texts = parse_answer(self._ask(record), out["turns"])
        except CONFIGURATION_ERRORS:
            raise
        except (MalformedAnswer, openai.APIError, AttributeError, TypeError, ValueError) as exc:
            # AttributeError/TypeError: a response body that isn't a chat completion at all.
            meta["llm_rewritten"] = False
            meta["llm_error"] = f"{type(exc).__name__}: {exc}"[:300]
            return out
        for turn, text in zip(out["turns"], texts, strict=True):
            turn["text"] = text
        meta["llm_rewritten"] = True
        return out
