"""Request bodies of the ticket service, shared by the HTTP API and the CLI.

Fields follow GB/T 33358 (诉求人, 联系方式, 诉求内容, 诉求类型, 诉求分类, 发生地点, 紧急程度 …);
the category is a 3-level code of two digits a level (``010201``), P2.2 tags are free words.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hotline_ops.core.ticket_rules import CHANNELS, TYPES, URGENCIES

Channel = Literal[CHANNELS]  # type: ignore[valid-type]
Type = Literal[TYPES]  # type: ignore[valid-type]
Urgency = Literal[URGENCIES]  # type: ignore[valid-type]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TicketIn(_Body):
    channel: Channel
    caller_number: str = Field(min_length=3, max_length=32, pattern=r"^\+?[0-9-]{3,32}$")
    caller_name: str = Field("", max_length=100)
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=20_000)
    type: Type
    category: str = Field(pattern=r"^[0-9]{6}$", description="3-level code, 2 digits a level")
    district: str = Field(min_length=1, max_length=50)
    street: str = Field("", max_length=50)
    community: str = Field("", max_length=50)
    address: str = Field("", max_length=200)
    urgency: Urgency = "normal"
    tags: list[str] = Field(default_factory=list, max_length=20)
    confidential: bool = False

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not 1 <= len(tag) <= 30:
                raise ValueError("each tag must be 1–30 characters")
        return sorted(set(value))


class SyntheticIn(BaseModel):
    """What the ticket_service probe sends (hotline_ops/probes/ticket_service.py)."""

    # Stripped as TicketIn strips them: a title of whitespace alone is refused here (400
    # naming it), not passed on to become an empty TicketIn title (a 500).
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    channel: Channel = "web"
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=2000)
    synthetic: Literal[True]


class Satisfaction(_Body):
    """P6.2: three dimensions (1 = 不满意 … 3 = 满意) plus custom items; ``via`` is the
    channel it was collected through (P6.1 coverage per channel)."""

    via: Literal["ivr", "sms", "seat"] = "seat"
    attitude: int = Field(ge=1, le=3)
    efficiency: int = Field(ge=1, le=3)
    result: int = Field(ge=1, le=3)
    custom: dict[str, int] = Field(default_factory=dict)

    @field_validator("custom")
    @classmethod
    def _scores(cls, value: dict[str, int]) -> dict[str, int]:
        for key, score in value.items():
            if not 1 <= score <= 3:
                raise ValueError(f"{key}: score must be 1–3")
        return value


class ActionIn(_Body):
    """A transition. Which extra fields an action needs is checked by the service."""

    reason: str = Field("", max_length=2000)
    lead_unit: str | None = None
    assist_units: list[str] | None = None
    handler: str | None = Field(None, max_length=100)
    measures: str | None = Field(None, max_length=5000)
    reply: str | None = Field(None, max_length=20_000)
    days: int | None = Field(None, ge=1, le=60)
    into: int | None = Field(None, ge=1)
    satisfaction: Satisfaction | None = None
    script: str | None = Field(None, max_length=100)

    def data(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"reason"})


class SearchIn(_Body):
    number: str | None = None
    caller: str | None = None
    status: str | None = None
    category: str | None = Field(None, pattern=r"^[0-9]{2,6}$")
    region: str | None = None
    overdue: bool | None = None
    page: int = Field(1, ge=1, le=100_000)
    per_page: int = Field(20, ge=1, le=200)


class IvrIn(_Body):
    """What the IVR posts after the caller pressed the survey keys (P6.1)."""

    digits: str = Field(min_length=1, max_length=20, description="the keys pressed, in order")
    call_id: str = Field("", max_length=100)
