"""A rule's definition: cleaned with its defaults, refused with the bad field named, loops found,
and the step paths that waits resume from."""

from __future__ import annotations

import pytest

from cs_platform.automation import definition as rules

RED = {"type": "band_entered", "band": "red"}
TASK = {"action": "open_task", "title": "Call the sponsor"}


def refusal(raw) -> dict[str, str]:
    with pytest.raises(rules.DefinitionError) as caught:
        rules.check(raw)
    return caught.value.messages


def test_a_valid_definition_comes_back_with_its_defaults_filled_in():
    cleaned = rules.check({"trigger": RED, "steps": [TASK, {"action": "notify", "message": "Red"}]})
    assert cleaned["conditions"] == []
    task, notify = cleaned["steps"]
    assert (task["due_in_days"], task["assignee"], task["severity"]) == (3, "owner", "medium")
    assert (notify["recipients"], notify["channels"], notify["kind"]) == ("owner", [], "rule")


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"trigger": {"type": "band_entered"}, "steps": [TASK]}, "trigger.band"),
        ({"trigger": {"type": "weather"}, "steps": [TASK]}, "trigger.type"),
        (
            {"trigger": {"type": "score_drop", "points": 500, "days": 7}, "steps": [TASK]},
            "trigger.points",
        ),
        (
            {
                "trigger": RED,
                "conditions": [{"field": "sgment", "op": "in", "value": ["smb"]}],
                "steps": [TASK],
            },
            "conditions[0].field",
        ),
        (
            {
                "trigger": RED,
                "conditions": [{"field": "arr", "op": "in", "value": 5}],
                "steps": [TASK],
            },
            "conditions[0].op",
        ),
        (
            {
                "trigger": RED,
                "conditions": [{"field": "segment", "op": "in", "value": ["tiny"]}],
                "steps": [TASK],
            },
            "conditions[0].value",
        ),
        ({"trigger": RED, "steps": [{"action": "teleport"}]}, "steps[0].action"),
        ({"trigger": RED, "steps": [{**TASK, "due_in_days": -1}]}, "steps[0].due_in_days"),
        ({"trigger": RED, "steps": [TASK, {"wait_days": 0}]}, "steps[1].wait_days"),
        ({"trigger": RED, "steps": [TASK, {"if": [], "then": [TASK]}]}, "steps[1].if"),
        ({"trigger": RED, "steps": [{"wait_days": 3}]}, "steps"),
        ({"trigger": RED, "steps": [{**TASK, "assignee": "the boss"}]}, "steps[0].assignee"),
        (
            {"trigger": RED, "steps": [{"action": "set_field", "field": "arr", "value": 1}]},
            "steps[0].field",
        ),
        ({"trigger": RED}, "steps"),
        ("not an object", "definition"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_field(raw, path):
    assert path in refusal(raw)


def test_branches_nest_only_so_deep():
    deep = {"if": [{"field": "band", "op": "eq", "value": "red"}], "then": [TASK]}
    for _ in range(3):
        deep = {"if": [{"field": "band", "op": "eq", "value": "red"}], "then": [deep]}
    assert "Branches nest" in " ".join(refusal({"trigger": RED, "steps": [deep]}).values())


def test_a_rule_setting_the_trait_its_own_trigger_watches_is_a_loop():
    looping = {
        "trigger": {"type": "trait_changed", "key": "tier"},
        "steps": [{"action": "set_trait", "key": "tier", "value": "gold"}],
    }
    assert rules.trait_loops({"promote": looping}) == [["promote"]]


def test_two_rules_feeding_each_other_through_traits_are_a_loop_but_a_chain_is_not():
    def rule(watches: str, sets: str) -> dict:
        return {
            "trigger": {"type": "trait_changed", "key": watches},
            "steps": [{"action": "set_trait", "key": sets, "value": 1}],
        }

    assert rules.trait_loops({"a": rule("x", "y"), "b": rule("y", "x")}) == [["a", "b"]]
    assert rules.trait_loops({"a": rule("x", "y"), "b": rule("y", "z")}) == []


def test_the_next_step_climbs_out_of_a_finished_branch():
    steps = [
        TASK,
        {"wait_days": 7},
        {"if": [{"field": "band", "op": "eq", "value": "red"}], "then": [TASK], "else": []},
        {"action": "webhook"},
    ]
    assert rules.next_path(steps, (2, "then", 1)) == (3,)
    assert rules.next_path(steps, (2, "else", 0)) == (3,)
    assert rules.next_path(steps, (4,)) is None
    assert rules.parse_path(rules.path_text((2, "then", 0))) == (2, "then", 0)


def test_a_definition_reads_as_sentences_on_the_rules_page():
    words = rules.describe(
        rules.check(
            {
                "trigger": {"type": "score_drop", "points": 15, "days": 30},
                "conditions": [{"field": "segment", "op": "in", "value": ["enterprise", "smb"]}],
                "steps": [
                    {**TASK, "playbook": "Save plan"},
                    {"action": "notify", "message": "Slid", "channels": ["slack"]},
                    {"action": "set_field", "field": "lifecycle_stage", "value": "renewing"},
                    {"action": "set_trait", "key": "save_play", "value": "on"},
                    {"action": "add_to_list", "list": "Saves"},
                    {"action": "webhook"},
                    {"wait_days": 7},
                    {
                        "if": [{"field": "band", "op": "eq", "value": "red"}],
                        "then": [
                            {"action": "notify", "recipients": "team_lead", "message": "Still red"}
                        ],
                        "else": [{"action": "add_to_list", "list": "Recovered"}],
                    },
                ],
            }
        )
    )
    assert words["when"] == "Score dropped by N points in D days (points 15.0, days 30)"
    assert words["only"] == ["segment is enterprise, smb"]
    assert words["then"][:7] == [
        "Open a task “Call the sponsor” for the owner, due in 3 days, medium severity, "
        "playbook Save plan",
        "Notify the owner (rule, by slack): “Slid”",
        "Set lifecycle stage to renewing",
        "Set the trait save_play to on",
        "Add to the list “Saves”",
        "Send automation.rule_fired to the webhooks",
        "Wait 7 days",
    ]
    assert words["then"][7] == (
        "If band is red",
        ["Notify the owner's team lead (rule, by their alert settings): “Still red”"],
        ["Add to the list “Recovered”"],
    )
