"""JSON responses for payloads with float vectors, serialised in one C call (orjson).

FastAPI turns a returned ``dict`` into JSON by walking it element by element in Python
(``jsonable_encoder``) and then ``json.dumps``; for a 512-float embedding that walk cost more
main-thread time than the model call (py-spy on ``/embed/texts`` at concurrency 32: about a
quarter of the event loop). ``vector_response`` writes numpy arrays directly: each float32 as
the shortest decimal that reads back to the same float32 (exact, unlike rounding), non-finite
numbers as ``null``, as the routes' other JSON does.
"""
from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

OPTIONS = orjson.OPT_SERIALIZE_NUMPY


class VectorResponse(Response):
    """``application/json`` from a payload that may hold C-contiguous numpy arrays."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=OPTIONS)


def vector_response(payload: dict, status_code: int = 200) -> VectorResponse:
    """The response for ``payload`` (numpy arrays inside are written as nested lists)."""
    return VectorResponse(payload, status_code=status_code)
