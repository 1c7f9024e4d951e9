"""URL converters."""
from werkzeug.routing import IntegerConverter

from marketplace.common.schemas import ID_MAX


class IdConverter(IntegerConverter):
    """``<id:name>``: a positive database id; anything out of range is simply not found."""

    def __init__(self, map, **kwargs):
        super().__init__(map, min=1, max=ID_MAX, **kwargs)

    @staticmethod
    def openapi_schema(converter) -> dict:
        return {"type": "integer", "minimum": 1, "maximum": ID_MAX}
