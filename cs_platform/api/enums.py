"""Named enums of the API: one OpenAPI component each, referenced wherever a value is used, so a
generated client has one `Segment` type instead of a copy per field and parameter."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from marshmallow import fields, validate

from cs_platform.models import (
    CONTACT_ROLES,
    LIFECYCLE_STAGES,
    PLANS,
    SEGMENTS,
    TASK_KINDS,
    TASK_OUTCOMES,
    TASK_SEVERITIES,
    TASK_STATUSES,
    TRAIT_TYPES,
)
from scoring.models import BANDS, SCORING_METHODS
from surveys.models import INVITATION_STATUSES, SURVEY_KINDS
from surveys.survey_metrics import PERIODS
from surveys.texts import LOCALES

ENUMS: dict[str, tuple[str, ...]] = {
    "Segment": SEGMENTS,
    "Plan": PLANS,
    "LifecycleStage": LIFECYCLE_STAGES,
    "Band": BANDS,
    "ScoringMethod": SCORING_METHODS,
    "SurveyKind": SURVEY_KINDS,
    "MetricPeriod": tuple(PERIODS),
    "TaskKind": TASK_KINDS,
    "TaskSeverity": TASK_SEVERITIES,
    "TaskStatus": TASK_STATUSES,
    "TaskOutcome": TASK_OUTCOMES,
    "SurveyResponseChange": ("score", "comment"),
    "ContactRole": CONTACT_ROLES,
    "Locale": LOCALES,
    "InvitationStatus": INVITATION_STATUSES,
    "InvitationSendAt": ("window", "now"),
    "BulkRowStatus": ("created", "updated", "unchanged", "failed"),
    "TraitType": TRAIT_TYPES,
}
# Field metadata naming the component (apispec copies only OpenAPI keywords and x- keys).
COMPONENT = "enum_component"
# What a $ref may keep beside it (OpenAPI 3.1); type and enum come from the component.
KEPT_BESIDE_REF = ("description", "default", "readOnly", "writeOnly", "example")


def enum_field(name: str, **kwargs: Any) -> fields.String:
    """A string that must be one of ENUMS[name], documented as a $ref to its component."""
    metadata = {**kwargs.pop("metadata", {}), COMPONENT: name}
    return fields.String(validate=validate.OneOf(ENUMS[name]), metadata=metadata, **kwargs)


def enum_reference(converter: Any, field: fields.Field, ret: dict, **_: Any) -> dict:
    """apispec attribute function: the property of an enum_field becomes a $ref (nullable:
    anyOf the $ref and null), keeping its description and default."""
    name = field.metadata.get(COMPONENT)
    if name is None:
        return {}
    kept = {key: ret[key] for key in KEPT_BESIDE_REF if key in ret}
    ret.clear()
    reference = {"$ref": f"#/components/schemas/{name}"}
    if field.allow_none:
        return {"anyOf": [reference, {"type": "null"}], **kept}
    return reference | kept


def document_enums(spec: APISpec, converter: Any) -> None:
    """Register each enum as a schema component and turn enum fields into references to it."""
    for name, values in ENUMS.items():
        spec.components.schema(name, {"type": "string", "enum": list(values)})
    converter.add_attribute_function(enum_reference)
