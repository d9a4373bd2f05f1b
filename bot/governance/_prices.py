"""The operator's price table (``SORA_PRICES``): what one video costs.

Operators copy their relay's price list: a JSON list of entries with any of
``provider`` (the provider's name or its dialect), ``model``, ``seconds``, ``hd``
and the ``price`` of one such video. A field left out matches everything; of the
entries that match, the one naming the most fields wins, and of equally specific
ones the first listed.
No matching entry means the video costs nothing (count-only limits).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from bot.models import GenerationRequest


class PriceEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str | None = None
    model: str | None = None
    seconds: int | None = None
    hd: bool | None = None
    price: Decimal = Field(ge=0)

    @property
    def specificity(self) -> int:
        named = (self.provider, self.model, self.seconds, self.hd)
        return sum(field is not None for field in named)

    def matches(self, providers: Sequence[str], request: GenerationRequest) -> bool:
        return (
            (self.provider is None or self.provider in providers)
            and self.model in (None, request.model)
            and self.seconds in (None, request.seconds)
            and self.hd in (None, request.hd)
        )


def price_of(
    table: Sequence[PriceEntry], providers: Sequence[str], request: GenerationRequest
) -> Decimal:
    """The price of ``request`` at the provider known by any of ``providers``."""
    best: PriceEntry | None = None
    for entry in table:
        if entry.matches(providers, request) and (
            best is None or entry.specificity > best.specificity
        ):
            best = entry
    return Decimal(0) if best is None else best.price
