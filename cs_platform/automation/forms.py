"""The rule editor: a form of plain fields that builds a rule's definition, and fills itself
from one, so an admin defines rules without writing any."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from cs_platform.automation import definition as rules
from cs_platform.forms import MultiCheckboxField, choices
from cs_platform.models import LIFECYCLE_STAGES, PLANS, SEGMENT_LABELS, SEGMENTS, TASK_SEVERITIES
from scoring.models import BANDS

BAND_CHOICES = choices((band, band.title()) for band in BANDS)
WHO = choices((("owner", "The account owner"), ("team_lead", "The owner's team lead")))
OPTIONAL = [Optional()]


def _label(value: str) -> str:
    return value.replace("_", " ").capitalize()


class RuleForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=120)])
    enabled = BooleanField("On", default=True)
    confirm = BooleanField("I confirm: let it act on that many accounts")
    # Trigger
    trigger = SelectField(
        "When", choices=choices(rules.TRIGGER_LABELS.items()), default="band_entered"
    )
    band = SelectField("Band", choices=BAND_CHOICES, default="red")
    points = IntegerField("Points", validators=[Optional(), NumberRange(1, 100)])
    days = IntegerField("Days", validators=[Optional(), NumberRange(1, 730)])
    probability = IntegerField("Probability (%)", validators=[Optional(), NumberRange(0, 100)])
    percent = IntegerField("Drop (%)", validators=[Optional(), NumberRange(1, 100)])
    direction = SelectField(
        "Direction", choices=choices((("below", "Below"), ("above", "Above"))), default="below"
    )
    share = IntegerField("Share of seats (%)", validators=[Optional(), NumberRange(0, 1000)])
    category = SelectField(
        "Answer",
        choices=choices((("detractor", "Detractor"), ("passive", "Passive"))),
        default="detractor",
    )
    count = IntegerField("Open tickets", validators=[Optional(), NumberRange(0, 100_000)])
    key = StringField("Trait key", validators=[Optional(), Length(max=64)])
    # Conditions
    segments = MultiCheckboxField(
        "Segment", choices=choices((s, SEGMENT_LABELS[s]) for s in SEGMENTS)
    )
    plans = MultiCheckboxField("Plan", choices=choices((p, _label(p)) for p in PLANS))
    stages = MultiCheckboxField(
        "Lifecycle stage", choices=choices((s, _label(s)) for s in LIFECYCLE_STAGES)
    )
    arr_min = DecimalField("ARR at least", validators=[Optional(), NumberRange(0)], places=0)
    arr_max = DecimalField("ARR at most", validators=[Optional(), NumberRange(0)], places=0)
    traits = TextAreaField(
        "Custom traits (one per line, e.g. tier:gold)", validators=[Optional(), Length(max=2000)]
    )
    # Actions
    task_title = StringField("Open a task titled", validators=[Optional(), Length(max=200)])
    task_playbook = SelectField("with the playbook", choices=[], default="")
    task_due_days = IntegerField(
        "due in (days)", default=3, validators=[Optional(), NumberRange(0, 365)]
    )
    task_assignee = SelectField("for", choices=WHO, default="owner")
    task_severity = SelectField(
        "severity", choices=choices((s, _label(s)) for s in TASK_SEVERITIES), default="medium"
    )
    notify_message = StringField(
        "Notify with the message", validators=[Optional(), Length(max=300)]
    )
    notify_recipients = SelectField("to", choices=WHO, default="owner")
    notify_channels = MultiCheckboxField(
        "through (none ticked: their alert settings)",
        choices=choices((("email", "Email"), ("slack", "Slack"), ("teams", "Microsoft Teams"))),
    )
    webhook = BooleanField("Call the webhooks (event automation.rule_fired)")
    set_stage = SelectField(
        "Set the lifecycle stage to",
        choices=choices([("", "(leave it)")] + [(s, _label(s)) for s in LIFECYCLE_STAGES]),
        default="",
    )
    trait_key = StringField("Set the trait", validators=[Optional(), Length(max=64)])
    trait_value = StringField("to", validators=[Optional(), Length(max=1000)])
    list_name = StringField("Add to the list", validators=[Optional(), Length(max=120)])
    # Follow-up
    wait_days = IntegerField("Then after (days)", validators=[Optional(), NumberRange(1, 365)])
    still_band = SelectField(
        "if the band is still",
        choices=choices([("", "(any band)")] + [(b, b.title()) for b in BANDS]),
    )
    escalate_message = StringField(
        "escalate to the team lead with the message", validators=[Optional(), Length(max=300)]
    )

    def definition(self) -> dict[str, Any]:
        """The definition these fields describe (checked by `definition.check` when saved)."""
        return {
            "trigger": self._trigger(),
            "conditions": self._conditions(),
            "steps": self._actions() + self._follow_up(),
        }

    def _trigger(self) -> dict[str, Any]:
        kind = self.trigger.data
        values = {
            "band": self.band.data,
            "points": self.points.data,
            "days": self.days.data,
            "probability": None if self.probability.data is None else self.probability.data / 100,
            "percent": self.percent.data,
            "direction": self.direction.data,
            "share": None if self.share.data is None else self.share.data / 100,
            "category": self.category.data,
            "count": self.count.data,
            "key": (self.key.data or "").strip() or None,
        }
        wanted = rules.TRIGGER_PARAMETERS.get(kind, ())
        return {"type": kind} | {name: values[name] for name in wanted if values[name] is not None}

    def _conditions(self) -> list[dict[str, Any]]:
        conditions: list[dict[str, Any]] = []
        for field, values in (
            ("segment", self.segments.data),
            ("plan", self.plans.data),
            ("lifecycle_stage", self.stages.data),
        ):
            if values:
                conditions.append({"field": field, "op": "in", "value": list(values)})
        for op, amount in (("gte", self.arr_min.data), ("lte", self.arr_max.data)):
            if amount is not None:
                conditions.append({"field": "arr", "op": op, "value": float(amount)})
        for line in (self.traits.data or "").splitlines():
            if line.strip():
                conditions.append({"field": "trait", "op": "matches", "value": line.strip()})
        return conditions

    def _actions(self) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = []
        if self.task_title.data:
            steps.append(
                {
                    "action": "open_task",
                    "title": self.task_title.data.strip(),
                    "playbook": self.task_playbook.data or None,
                    "due_in_days": self.task_due_days.data
                    if self.task_due_days.data is not None
                    else 3,
                    "assignee": self.task_assignee.data,
                    "severity": self.task_severity.data,
                }
            )
        if self.notify_message.data:
            steps.append(
                {
                    "action": "notify",
                    "message": self.notify_message.data.strip(),
                    "recipients": self.notify_recipients.data,
                    "channels": list(self.notify_channels.data or []),
                }
            )
        if self.webhook.data:
            steps.append({"action": "webhook"})
        if self.set_stage.data:
            steps.append(
                {"action": "set_field", "field": "lifecycle_stage", "value": self.set_stage.data}
            )
        if self.trait_key.data:
            steps.append(
                {
                    "action": "set_trait",
                    "key": self.trait_key.data.strip(),
                    "value": self.trait_value.data or "",
                }
            )
        if self.list_name.data:
            steps.append({"action": "add_to_list", "list": self.list_name.data.strip()})
        return steps

    def _follow_up(self) -> list[dict[str, Any]]:
        if not self.wait_days.data or not self.escalate_message.data:
            return []
        escalate = [
            {
                "action": "notify",
                "recipients": "team_lead",
                "kind": "escalation",
                "message": self.escalate_message.data.strip(),
                "channels": [],
            }
        ]
        check = (
            [{"field": "band", "op": "eq", "value": self.still_band.data}]
            if self.still_band.data
            else [{"field": "still_matching", "op": "eq", "value": True}]
        )
        return [{"wait_days": self.wait_days.data}, {"if": check, "then": escalate, "else": []}]


def form_data(name: str, enabled: bool, definition: dict[str, Any]) -> dict[str, Any] | None:
    """The editor's field values for a saved definition; None when the editor cannot show it
    (a rule saved from JSON with steps the form has no fields for)."""
    data: dict[str, Any] = {"name": name, "enabled": enabled}
    trigger = definition["trigger"]
    data["trigger"] = trigger["type"]
    for key, value in trigger.items():
        if key in ("probability", "share"):
            data[key] = round(value * 100)
        elif key != "type":
            data[key] = value
    if not _conditions_data(definition["conditions"], data) or not _steps_data(
        definition["steps"], data
    ):
        return None
    return data


def _conditions_data(conditions: list[dict[str, Any]], data: dict[str, Any]) -> bool:
    names = {"segment": "segments", "plan": "plans", "lifecycle_stage": "stages"}
    traits = []
    for condition in conditions:
        field, op, value = condition["field"], condition["op"], condition["value"]
        if field in names and op == "in":
            data[names[field]] = value
        elif field == "arr":
            data["arr_min" if op == "gte" else "arr_max"] = value
        elif field == "trait":
            traits.append(value)
        else:
            return False
    data["traits"] = "\n".join(traits)
    return True


def _steps_data(steps: list[dict[str, Any]], data: dict[str, Any]) -> bool:
    for index, step in enumerate(steps):
        action = step.get("action")
        if action == "open_task":
            data.update(
                task_title=step["title"],
                task_playbook=step.get("playbook") or "",
                task_due_days=step["due_in_days"],
                task_assignee=step["assignee"],
                task_severity=step["severity"],
            )
        elif action == "notify" and step.get("kind", "rule") == "rule":
            data.update(
                notify_message=step["message"],
                notify_recipients=step["recipients"],
                notify_channels=step.get("channels", []),
            )
        elif action == "webhook":
            data["webhook"] = True
        elif action == "set_field" and step["field"] == "lifecycle_stage":
            data["set_stage"] = step["value"]
        elif action == "set_trait":
            data.update(trait_key=step["key"], trait_value=str(step["value"]))
        elif action == "add_to_list":
            data["list_name"] = step["list"]
        elif "wait_days" in step and index == len(steps) - 2:
            return _follow_up_data(step, steps[-1], data)
        else:
            return False
    return True


def _follow_up_data(wait: dict[str, Any], branch: dict[str, Any], data: dict[str, Any]) -> bool:
    then = branch.get("then", [])
    if "if" not in branch or len(then) != 1 or len(branch["if"]) != 1 or branch.get("else"):
        return False
    condition = branch["if"][0]
    data["wait_days"] = wait["wait_days"]
    data["still_band"] = condition["value"] if condition["field"] == "band" else ""
    data["escalate_message"] = then[0].get("message", "")
    return True
