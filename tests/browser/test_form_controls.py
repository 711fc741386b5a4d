"""Form controls in a real browser: every input type is styled alike, and the campaign
schedule shows only the settings of the chosen repeat."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.test_smoke import sign_in
from tests.factories import CampaignFactory

pytestmark = pytest.mark.browser
LOOK = ("borderTopWidth", "borderTopColor", "borderTopLeftRadius", "paddingLeft", "fontSize")


def look(control: Locator) -> dict[str, str]:
    """The computed styles that make a control look like the platform's text inputs."""
    script = "(el, names) => Object.fromEntries(names.map(n => [n, getComputedStyle(el)[n]]))"
    return control.evaluate(script, list(LOOK))


def test_url_inputs_look_like_text_inputs_and_are_wide_enough(page: Page, live_server, make_user):
    sign_in(page, live_server, make_user("admin").email)
    page.goto(f"{live_server}/admin/webhooks/")
    url_box = page.locator("input[type=url]")
    assert look(url_box) == look(page.locator("input[type=text]").first)
    assert url_box.bounding_box()["width"] > 400


def test_number_and_date_inputs_look_like_text_inputs(page: Page, live_server, make_user):
    sign_in(page, live_server, make_user("admin").email)
    page.goto(f"{live_server}/surveys/campaigns/new")
    text = look(page.locator("input[type=text]").first)
    assert look(page.locator("input[type=number]").first) == text
    assert look(page.locator("input[type=datetime-local]")) == text


def test_the_campaign_schedule_shows_only_the_settings_of_the_chosen_repeat(
    page: Page, live_server, make_user
):
    campaign = CampaignFactory(cron="0 6 * * mon")
    sign_in(page, live_server, make_user("admin").email)
    page.goto(f"{live_server}/surveys/campaigns/{campaign.id}/edit")
    expect(page.get_by_label("On (weekly)")).to_be_visible()
    expect(page.get_by_label("On day (monthly, quarterly)")).to_be_hidden()
    expect(page.get_by_label("Crontab (advanced)")).to_be_hidden()
    page.get_by_label("Repeat", exact=True).select_option("monthly")
    expect(page.get_by_label("On day (monthly, quarterly)")).to_be_visible()
    expect(page.get_by_label("On (weekly)")).to_be_hidden()
    page.get_by_label("Repeat", exact=True).select_option("cron")
    expect(page.get_by_label("Crontab (advanced)")).to_have_value("0 6 * * mon")
    expect(page.get_by_label("At", exact=True)).to_be_hidden()
