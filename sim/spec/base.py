"""Shared pieces of the protocol language: the frozen base model and field types."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from sim.spec.conditions import Condition, ConditionError, parse_condition


class Spec(BaseModel):
    """Base of every protocol-language model: immutable, unknown fields rejected."""

    # defer_build: a model's validator is built on its first use, not at import, so a
    # command pays only for the models it validates.
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, defer_build=True)


def _validate_condition(value: Any) -> Condition:
    try:
        return parse_condition(value)
    except ConditionError as exc:
        raise PydanticCustomError("condition", "{msg}", {"msg": str(exc)}) from None


ConditionField = Annotated[
    Condition,
    PlainValidator(_validate_condition),
    PlainSerializer(lambda c: c.source, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "description": "A condition on the patient state, e.g. 'crs_grade >= 2 or "
            "active_infection'. Operators: and, or, not, <, <=, >, >=, ==, !=.",
        }
    ),
]

MAX_STUDY_DAY = 36_500
"""Study days lie within 100 years of day 0, like the follow-up horizon (a day number
beyond that is a typo, and a huge one would overflow the clock)."""
StudyDay = Annotated[int, Field(ge=-MAX_STUDY_DAY, le=MAX_STUDY_DAY)]

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
Hour = Annotated[float, Field(ge=0, lt=24, description="hour of the day, 0-24")]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
