"""The conversation format of openeyes MLLMs, in two equivalent forms.

LLaVA-1.5's ``vicuna_v1``-style turns without a system prompt:

    USER: <image>\nWhat color is the moon? ASSISTANT: Blue</s> USER: ... ASSISTANT:

- ``CHAT_TEMPLATE``: the jinja template stored with the processor (``apply_chat_template``;
  messages in the transformers layout, content a string or a list of ``{"type": "image"}`` /
  ``{"type": "text", "text": ...}`` parts). A user turn renders its images first, then its
  text, whatever the order of the parts (as llava-hf's llava-1.5 template), so a text-first
  message (OpenAI's documented order) gives the same prompt as an image-first one.
- ``conversation_segments``: the same text cut into (text, is_answer) pieces for training,
  so that the loss can cover the assistant turns only. ``render_segments`` joined equals
  the template's output (tested).

No bos in the template: the tokenizer adds it when the processor tokenizes the prompt.
"""
from __future__ import annotations

from typing import Any

IMAGE_TOKEN = "<image>"
USER_PREFIX = "USER: "
ASSISTANT_PREFIX = " ASSISTANT:"
TURN_SEPARATOR = " "

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}"
    "{% if not loop.first %}" + TURN_SEPARATOR + "{% endif %}" + USER_PREFIX +
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}"
    # images first, then the text parts, whatever their order (as llava-hf's llava-1.5 template)
    "{% for part in message['content'] if part['type'] == 'image' %}" + IMAGE_TOKEN + "\n{% endfor %}"
    "{% for part in message['content'] if part['type'] == 'text' %}{{ part['text'] }}{% endfor %}"
    "{% endif %}" + ASSISTANT_PREFIX +
    "{% elif message['role'] == 'assistant' %}"
    " {% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] if part['type'] == 'text' %}{{ part['text'] }}{% endfor %}"
    "{% endif %}{{ eos_token }}"
    "{% endif %}"
    "{% endfor %}"
)

LEGACY_CHAT_TEMPLATES = (  # earlier openeyes templates (kept the part order); exports upgrade them
    "{% for message in messages %}{% if message['role'] == 'user' %}{% if not loop.first %} {% endif %}USER: "
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>\n{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %} ASSISTANT:{% elif message['role'] == 'assistant' %} {% if message['content'] is string %}"
    "{{ message['content'] }}{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}"
    "{{ part['text'] }}{% endif %}{% endfor %}{% endif %}{{ eos_token }}{% endif %}{% endfor %}",
)


def current_template(template: str | None) -> str | None:
    """``template``, or today's ``CHAT_TEMPLATE`` when it is an earlier openeyes template."""
    return CHAT_TEMPLATE if template in LEGACY_CHAT_TEMPLATES else template


LLAVA_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}


def llava_turns_to_messages(turns: list[dict[str, Any]], where: str = "conversation") -> list[dict[str, str]]:
    """LLaVA JSON turns (``{"from": "human"|"gpt", "value"}``) -> ``[{"role", "content"}]`` (text content)."""
    from openeyes.errors import UserError

    messages = []
    for number, turn in enumerate(turns):
        role = LLAVA_ROLES.get(turn.get("from")) if isinstance(turn, dict) else None
        if role is None or not isinstance(turn.get("value"), str):
            raise UserError(f"{where}: turn {number} needs 'from' (human/gpt) and a text 'value'")
        expected = "user" if number % 2 == 0 else "assistant"
        if role != expected:
            raise UserError(f"{where}: turn {number} is from {turn.get('from')!r}; turns must alternate human, gpt")
        messages.append({"role": role, "content": turn["value"]})
    return messages


def _text_of(content: Any) -> str:
    """A message's text as the template renders it: every image first, then the text parts in order."""
    if isinstance(content, str):
        return content
    images = [IMAGE_TOKEN + "\n" for part in content if part.get("type") == "image"]
    return "".join(images + [part["text"] for part in content if part.get("type") == "text"])


def conversation_segments(messages: list[dict[str, Any]], eos_token: str) -> list[tuple[str, bool]]:
    """(text, is_answer) pieces whose concatenation is the template's rendering of ``messages``.

    Answer pieces are the assistant replies with their leading space and their eos (what the
    loss covers), so a prompt piece ends exactly where generation starts (" ASSISTANT:").
    """
    segments: list[tuple[str, bool]] = []
    for number, message in enumerate(messages):
        if message["role"] == "user":
            separator = TURN_SEPARATOR if number > 0 else ""
            segments.append((separator + USER_PREFIX + _text_of(message["content"]) + ASSISTANT_PREFIX, False))
        else:
            segments.append((" " + _text_of(message["content"]) + eos_token, True))
    return segments


def render_segments(segments: list[tuple[str, bool]]) -> str:
    """The text of a segmented conversation."""
    return "".join(piece for piece, _ in segments)
