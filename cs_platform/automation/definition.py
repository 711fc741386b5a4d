"""What a rule is, as data: its trigger, its conditions and its steps, checked with marshmallow.

A definition (stored as JSON on the rule and on each of its versions)::

    {"trigger": {"type": "band_entered", "band": "red"},
     "conditions": [{"field": "segment", "op": "in", "value": ["enterprise"]},
                    {"field": "arr", "op": "gte", "value": 50000}],
     "steps": [{"action": "open_task", "title": "Call the sponsor", "due_in_days": 2},
               {"action": "notify", "recipients": "owner", "message": "Turned red"},
               {"wait_days": 7},
               {"if": [{"field": "band", "op": "eq", "value": "red"}],
                "then": [{"action": "notify", "recipients": "team_lead", "kind": "escalation",
                          "message": "Still red after 7 days"}]}]}

No Flask and no database (it reads the models' constants only). `check(raw)` returns the
cleaned definition or raises `DefinitionError` whose messages name each bad field by its path
("steps[2].due_in_days").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from cs_platform.models import LIFECYCLE_STAGES, PLANS, SEGMENTS
from cs_platform.models import TASK_SEVERITIES as SEVERITIES
from scoring.models import BANDS

CHANNELS = ("email", "slack", "teams")
SETTABLE_FIELDS = ("lifecycle_stage", "owner")

TRIGGER_LABELS = {
    "band_entered": "Health band entered",
    "band_left": "Health band left",
    "score_drop": "Score dropped by N points in D days",
    "churn_risk_above": "P(churn before renewal) above X",
    "usage_drop": "Usage down N % week over week",
    "seat_utilisation": "Seat utilisation above or below a share",
    "survey_answer": "Detractor or passive answer",
    "ticket_backlog": "Open tickets above N",
    "renewal_within": "Renewal in N days",
    "trait_changed": "Custom trait changed",
}
CONDITION_FIELDS = {
    # field: (allowed operators, value kind)
    "segment": (("in", "not_in"), "segments"),
    "plan": (("in", "not_in"), "plans"),
    "lifecycle_stage": (("in", "not_in"), "stages"),
    "arr": (("gte", "lte"), "number"),
    "owner": (("eq", "ne"), "owner"),
    "band": (("eq", "ne"), "band"),
    "health_score": (("gte", "lte"), "number"),
    "p_churn": (("gte", "lte"), "share"),
    "trait": (("matches",), "trait"),
    "list": (("in", "not_in"), "id"),  # on the list with this id, or not
    "still_matching": (("eq",), "boolean"),
}
ACTION_LABELS = {
    "open_task": "Open a task",
    "notify": "Notify",
    "webhook": "Call the webhooks",
    "set_field": "Set a field",
    "set_trait": "Set a trait",
    "add_to_list": "Add to a list",
}
MAX_STEPS = 20
MAX_DEPTH = 3


class DefinitionError(ValueError):
    """A definition that cannot be saved; `messages` maps each bad field's path to why."""

    def __init__(self, messages: Mapping[str, str]) -> None:
        self.messages = dict(messages)
        super().__init__("; ".join(f"{path}: {why}" for path, why in self.messages.items()))


def _positive(largest: int) -> validate.Range:
    return validate.Range(min=1, max=largest)


class TriggerSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(TRIGGER_LABELS))
    band = fields.String(validate=validate.OneOf(BANDS))
    points = fields.Float(validate=validate.Range(min=1, max=100))
    days = fields.Integer(validate=_positive(730))
    probability = fields.Float(validate=validate.Range(min=0, max=1))
    percent = fields.Float(validate=validate.Range(min=1, max=100))
    direction = fields.String(validate=validate.OneOf(("above", "below")))
    share = fields.Float(validate=validate.Range(min=0, max=10))
    category = fields.String(validate=validate.OneOf(("detractor", "passive")))
    count = fields.Integer(validate=validate.Range(min=0, max=100_000))
    key = fields.String(validate=validate.Length(min=1, max=64))

    @validates_schema
    def _has_its_parameters(self, data: dict[str, Any], **_: Any) -> None:
        needed = TRIGGER_PARAMETERS.get(data.get("type", ""), ())
        missing = [name for name in needed if name not in data]
        if missing:
            raise ValidationError({name: ["Required for this trigger."] for name in missing})


TRIGGER_PARAMETERS = {
    "band_entered": ("band",),
    "band_left": ("band",),
    "score_drop": ("points", "days"),
    "churn_risk_above": ("probability",),
    "usage_drop": ("percent",),
    "seat_utilisation": ("direction", "share"),
    "survey_answer": ("category",),
    "ticket_backlog": ("count",),
    "renewal_within": ("days",),
    "trait_changed": ("key",),
}


class ConditionSchema(Schema):
    field = fields.String(required=True, validate=validate.OneOf(CONDITION_FIELDS))
    op = fields.String(required=True)
    value = fields.Raw(required=True)

    @validates_schema
    def _operator_and_value_fit_the_field(self, data: dict[str, Any], **_: Any) -> None:
        field = data.get("field")
        if field not in CONDITION_FIELDS:
            return
        operators, kind = CONDITION_FIELDS[field]
        if data.get("op") not in operators:
            raise ValidationError({"op": [f"{field} takes {', '.join(operators)}."]})
        problem = _value_problem(kind, data.get("value"))
        if problem:
            raise ValidationError({"value": [problem]})


def _value_problem(kind: str, value: Any) -> str | None:
    """Why `value` does not fit a condition of `kind`, or None."""
    choices = {"segments": SEGMENTS, "plans": PLANS, "stages": LIFECYCLE_STAGES}
    if kind in choices:
        fits = isinstance(value, list) and value and not set(value) - set(choices[kind])
        return None if fits else f"A non-empty list of {', '.join(choices[kind])}."
    if kind in ("number", "share"):
        largest = 1 if kind == "share" else 10**12
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return None if number and 0 <= value <= largest else f"A number from 0 to {largest}."
    fits_and_help = {
        "band": (value in BANDS, f"One of {', '.join(BANDS)}."),
        "owner": (value == "none" or _is_id(value), "A user id, or none."),
        "id": (_is_id(value), "A list id."),
        "trait": (
            isinstance(value, str) and ":" in value and len(value) <= 200,
            "A trait filter such as tier:gold or seats_bought:gte:50.",
        ),
        "boolean": (isinstance(value, bool), "true or false."),
    }
    fits, help_text = fits_and_help[kind]
    return None if fits else help_text


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


RECIPIENT = validate.Regexp(
    r"^(owner|team_lead|user:[1-9][0-9]{0,9})$", error="owner, team_lead or user:<id>."
)


class OpenTaskSchema(Schema):
    action = fields.String(required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    details = fields.String(load_default="", validate=validate.Length(max=2000))
    playbook = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=120))
    due_in_days = fields.Integer(load_default=3, validate=validate.Range(min=0, max=365))
    assignee = fields.String(load_default="owner", validate=RECIPIENT)
    severity = fields.String(load_default="medium", validate=validate.OneOf(SEVERITIES))


class NotifySchema(Schema):
    action = fields.String(required=True)
    recipients = fields.String(load_default="owner", validate=RECIPIENT)
    message = fields.String(required=True, validate=validate.Length(min=1, max=300))
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)), load_default=list)
    kind = fields.String(load_default="rule", validate=validate.OneOf(("rule", "escalation")))


class WebhookSchema(Schema):
    action = fields.String(required=True)


class SetFieldSchema(Schema):
    action = fields.String(required=True)
    field = fields.String(required=True, validate=validate.OneOf(SETTABLE_FIELDS))
    value = fields.Raw(required=True)

    @validates_schema
    def _value_fits(self, data: dict[str, Any], **_: Any) -> None:
        field, value = data.get("field"), data.get("value")
        if field == "lifecycle_stage" and value not in LIFECYCLE_STAGES:
            raise ValidationError({"value": [f"One of {', '.join(LIFECYCLE_STAGES)}."]})
        if field == "owner" and not _is_id(value):
            raise ValidationError({"value": ["A user id."]})


class SetTraitSchema(Schema):
    action = fields.String(required=True)
    key = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$"))
    value = fields.Raw(required=True)

    @validates_schema
    def _value_is_plain(self, data: dict[str, Any], **_: Any) -> None:
        value = data.get("value")
        if not isinstance(value, str | int | float | bool) or (
            isinstance(value, str) and len(value) > 1000
        ):
            raise ValidationError(
                {"value": ["A text (up to 1,000 characters), number or boolean."]}
            )


class AddToListSchema(Schema):
    action = fields.String(required=True)
    list = fields.String(required=True, validate=validate.Length(min=1, max=120))


ACTION_SCHEMAS: dict[str, type[Schema]] = {
    "open_task": OpenTaskSchema,
    "notify": NotifySchema,
    "webhook": WebhookSchema,
    "set_field": SetFieldSchema,
    "set_trait": SetTraitSchema,
    "add_to_list": AddToListSchema,
}


class WaitSchema(Schema):
    wait_days = fields.Integer(required=True, validate=_positive(365))


def check(raw: Any) -> dict[str, Any]:
    """The definition, cleaned (defaults filled in); DefinitionError naming every bad field."""
    errors: dict[str, str] = {}
    if not isinstance(raw, Mapping):
        raise DefinitionError({"definition": "An object with trigger, conditions and steps."})
    trigger = _load(TriggerSchema(), raw.get("trigger"), "trigger", errors)
    conditions = _conditions(raw.get("conditions", []), "conditions", errors)
    steps = _steps(raw.get("steps"), "steps", errors, depth=1)
    if not errors and not any(True for _ in actions(steps)):
        errors["steps"] = "A rule needs at least one action."
    if errors:
        raise DefinitionError(errors)
    return {"trigger": trigger, "conditions": conditions, "steps": steps}


def _load(schema: Schema, raw: Any, path: str, errors: dict[str, str]) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        errors[path] = "Missing or not an object."
        return {}
    try:
        return dict(schema.load(raw))
    except ValidationError as error:
        errors.update(_flatten(error.messages, path))
        return {}


def _flatten(messages: Any, path: str) -> dict[str, str]:
    """marshmallow's nested messages as {"steps[2].due_in_days": "Must be ..."}."""
    if isinstance(messages, list):
        return {path: " ".join(str(message) for message in messages)}
    flat: dict[str, str] = {}
    for key, value in messages.items():
        name = "" if key == "_schema" else (f"[{key}]" if isinstance(key, int) else f".{key}")
        flat.update(_flatten(value, f"{path}{name}"))
    return flat


def _conditions(raw: Any, path: str, errors: dict[str, str]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or len(raw) > MAX_STEPS:
        errors[path] = f"A list of at most {MAX_STEPS} conditions."
        return []
    return [
        _load(ConditionSchema(), item, f"{path}[{index}]", errors) for index, item in enumerate(raw)
    ]


def _steps(raw: Any, path: str, errors: dict[str, str], depth: int) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw or len(raw) > MAX_STEPS:
        errors[path] = f"A list of 1 to {MAX_STEPS} steps."
        return []
    return [_step(item, f"{path}[{index}]", errors, depth) for index, item in enumerate(raw)]


def _step(raw: Any, path: str, errors: dict[str, str], depth: int) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        errors[path] = "A step is an object: an action, a wait or an if."
        return {}
    if "wait_days" in raw:
        return _load(WaitSchema(), raw, path, errors)
    if "if" in raw:
        return _branch(raw, path, errors, depth)
    schema = ACTION_SCHEMAS.get(str(raw.get("action")))
    if schema is None:
        errors[f"{path}.action"] = f"One of {', '.join(ACTION_SCHEMAS)} (or wait_days, or if)."
        return {}
    return _load(schema(), raw, path, errors)


def _branch(
    raw: Mapping[str, Any], path: str, errors: dict[str, str], depth: int
) -> dict[str, Any]:
    if depth >= MAX_DEPTH:
        errors[path] = f"Branches nest at most {MAX_DEPTH - 1} deep."
        return {}
    unknown = set(raw) - {"if", "then", "else"}
    if unknown:
        errors[path] = f"Unknown keys {', '.join(sorted(unknown))}."
    branch = {
        "if": _conditions(raw["if"], f"{path}.if", errors),
        "then": _steps(raw.get("then"), f"{path}.then", errors, depth + 1),
        "else": _steps(raw["else"], f"{path}.else", errors, depth + 1) if raw.get("else") else [],
    }
    if not branch["if"] and f"{path}.if" not in errors:
        errors[f"{path}.if"] = "At least one condition to check."
    return branch


def actions(steps: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every action step, branches included, in order."""
    for step in steps:
        if "action" in step:
            yield step
        elif "if" in step:
            yield from actions(step["then"])
            yield from actions(step["else"])


# --- Where steps go on: a path into the step tree --------------------------------------------

StepPath = tuple[int | str, ...]  # (3,) or (3, "then", 0)


def path_text(path: StepPath) -> str:
    return ".".join(str(part) for part in path)


def parse_path(text: str) -> StepPath:
    return tuple(int(part) if part.isdecimal() else part for part in text.split("."))


def step_list(steps: list[dict[str, Any]], path: StepPath) -> list[dict[str, Any]]:
    """The list of steps the last index of `path` points into."""
    current = steps
    for index in range(0, len(path) - 1, 2):
        current = current[int(path[index])][str(path[index + 1])]
    return current


def next_path(steps: list[dict[str, Any]], path: StepPath) -> StepPath | None:
    """The first step at or after `path`, climbing out of finished branches; None at the end."""
    while True:
        if int(path[-1]) < len(step_list(steps, path)):
            return path
        if len(path) == 1:
            return None
        path = (*path[:-3], int(path[-3]) + 1)


def step_at(steps: list[dict[str, Any]], path: StepPath) -> dict[str, Any]:
    return step_list(steps, path)[int(path[-1])]


def advance(path: StepPath) -> StepPath:
    return (*path[:-1], int(path[-1]) + 1)


# --- Loops -------------------------------------------------------------------------------------


def trait_loops(definitions: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """Chains of rules (by name) where each sets a trait whose change triggers the next and the
    last triggers the first: such rules would fire each other forever. Empty when none."""
    sets = {
        name: {step["key"] for step in actions(d["steps"]) if step.get("action") == "set_trait"}
        for name, d in definitions.items()
    }
    watches = {
        name: d["trigger"].get("key")
        for name, d in definitions.items()
        if d["trigger"]["type"] == "trait_changed"
    }
    follows = {name: sorted(o for o, key in watches.items() if key in sets[name]) for name in sets}
    return _cycles(follows)


def _cycles(follows: Mapping[str, list[str]]) -> list[list[str]]:
    """Each cycle of the graph once, as the list of its nodes from its smallest name."""
    found: set[tuple[str, ...]] = set()

    def walk(node: str, trail: list[str]) -> None:
        for nxt in follows.get(node, []):
            if nxt in trail:
                cycle = trail[trail.index(nxt) :]
                start = cycle.index(min(cycle))
                found.add(tuple(cycle[start:] + cycle[:start]))
            else:
                walk(nxt, [*trail, nxt])

    for node in sorted(follows):
        walk(node, [node])
    return [list(cycle) for cycle in sorted(found)]


# --- In words, for the rule's page -------------------------------------------------------------

OPERATORS = {
    "in": "is",
    "not_in": "is not",
    "eq": "is",
    "ne": "is not",
    "gte": "at least",
    "lte": "at most",
    "matches": "matches",
}
WHO = {"owner": "the owner", "team_lead": "the owner's team lead"}


def describe(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The definition in words: {"when": str, "only": [str], "then": [str | nested]}."""
    trigger = definition["trigger"]
    figures = ", ".join(f"{key} {value}" for key, value in trigger.items() if key != "type")
    return {
        "when": f"{TRIGGER_LABELS[trigger['type']]} ({figures})",
        "only": [condition_text(condition) for condition in definition["conditions"]],
        "then": steps_text(definition["steps"]),
    }


def condition_text(condition: Mapping[str, Any]) -> str:
    value = condition["value"]
    shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    field = condition["field"].replace("_", " ")
    return f"{field} {OPERATORS[condition['op']]} {shown}"


def steps_text(steps: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Each step as a sentence; a branch as (its sentence, then's steps, else's steps)."""
    said: list[Any] = []
    for step in steps:
        if "wait_days" in step:
            said.append(f"Wait {step['wait_days']} days")
        elif "if" in step:
            checks = " and ".join(condition_text(condition) for condition in step["if"])
            said.append((f"If {checks}", steps_text(step["then"]), steps_text(step["else"])))
        else:
            said.append(action_text(step))
    return said


def action_text(step: Mapping[str, Any]) -> str:
    action = step["action"]
    if action == "open_task":
        playbook = f", playbook {step['playbook']}" if step.get("playbook") else ""
        who = WHO.get(step["assignee"], step["assignee"])
        return (
            f"Open a task “{step['title']}” for {who}, due in {step['due_in_days']} days, "
            f"{step['severity']} severity{playbook}"
        )
    if action == "notify":
        channels = ", ".join(step["channels"]) or "their alert settings"
        who = WHO.get(step["recipients"], step["recipients"])
        return f"Notify {who} ({step['kind']}, by {channels}): “{step['message']}”"
    if action == "set_field":
        return f"Set {step['field'].replace('_', ' ')} to {step['value']}"
    if action == "set_trait":
        return f"Set the trait {step['key']} to {step['value']}"
    if action == "add_to_list":
        return f"Add to the list “{step['list']}”"
    return "Send automation.rule_fired to the webhooks"
