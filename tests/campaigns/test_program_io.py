"""program_export / program_import: the whole configuration as one JSON
document — validated, idempotent, the dry run changes nothing."""

import io
import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from campaigns.codes import codes_generate
from campaigns.models import (
    Campaign,
    CampaignSettings,
    CampaignStep,
    PromoCode,
    Promotion,
    PromotionGroup,
    Segment,
)
from rewards.models import Tier
from rewards.program_io import program_export, program_import
from tests.factories import LocationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def configured(category, service):
    LocationFactory(code="center")
    group = PromotionGroup.objects.create(name="Main", mode="best", order=1)
    happy = Promotion.objects.create(
        name="Happy hours", group=group, status="active", effect="percent_lines",
        percent=Decimal("15"), weekdays="12345",
    )  # fmt: skip
    happy.categories.add(category)
    happy.tiers.add(Tier.objects.get(code="silver"))
    welcome = Promotion.objects.create(
        name="Welcome", group=group, status="active", effect="percent_bill",
        percent=Decimal("20"), code_required=True,
    )  # fmt: skip
    PromoCode.objects.create(promotion=welcome, code="WELCOME", uses=7)
    codes_generate(promotion=welcome, count=5, batch="flyers")
    return group


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_an_export_imports_as_no_change(configured, tmp_path):
    path = tmp_path / "program.json"
    run("program_export", str(path))
    document = json.loads(path.read_text("utf-8"))

    assert document["format"] == 1
    (happy,) = [p for p in document["promotions"] if p["name"] == "Happy hours"]
    assert happy["categories"] == ["massage"] and happy["tiers"] == ["silver"]
    assert document["promo_codes"] == [
        {"promotion": "Welcome", "code": "WELCOME", "max_uses": None,
         "valid_from": None, "valid_until": None}
    ]  # fmt: skip
    assert document["promo_code_batches"][0]["count"] == 5
    assert "Nothing to change" in run("program_import", str(path))


def test_into_a_fresh_installation_and_again(configured, tmp_path):
    document = program_export()
    PromoCode.objects.all().delete()
    Promotion.objects.all().delete()
    PromotionGroup.objects.all().delete()
    Tier.objects.filter(code="silver").update(discount_percent=Decimal("3"))
    path = tmp_path / "program.json"
    path.write_text(json.dumps(document), "utf-8")

    dry = run("program_import", str(path), "--dry-run")

    assert "Dry run" in dry and "create promotion Happy hours" in dry
    assert "update tier silver: discount_percent" in dry
    assert not Promotion.objects.exists()

    run("program_import", str(path))

    happy = Promotion.objects.get(name="Happy hours")
    assert list(happy.categories.values_list("code", flat=True)) == ["massage"]
    assert PromoCode.objects.get(code="WELCOME").uses == 0  # uses are not config
    assert PromoCode.objects.filter(batch="flyers").count() == 5
    assert Tier.objects.get(code="silver").discount_percent == Decimal("10")
    assert program_import(document) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(surprise=[]), "Unknown sections"),
        (lambda d: d["promotions"][0].update(group="Nope"), "no promotion group"),
        (lambda d: d["promotions"][0].update(categories=["nope"]), "nope"),
        (lambda d: d["promotions"][0].update(percent="abc"), "percent"),
        (lambda d: d.update(format=7), "format"),
    ],
)
def test_a_bad_document_changes_nothing(configured, tmp_path, change, message):
    document = program_export()
    document["promotions"][0]["description"] = "changed"
    change(document)
    path = tmp_path / "program.json"
    path.write_text(json.dumps(document), "utf-8")

    with pytest.raises(CommandError, match=message):
        run("program_import", str(path))

    assert not Promotion.objects.filter(description="changed").exists()


def test_campaigns_travel_with_their_steps(configured):
    CampaignSettings.objects.create(frequency_cap=3)
    segment = Segment.objects.create(name="Thrice", definition={})
    offer = Promotion.objects.get(name="Welcome")
    campaign = Campaign.objects.create(
        name="Win-back", trigger="no_visit", trigger_days=42, segment=segment,
        status="active", control_percent=Decimal("15"),
    )  # fmt: skip
    CampaignStep.objects.create(campaign=campaign, position=1, template_key="wb1",
                                offer="promotion", promotion=offer)  # fmt: skip
    CampaignStep.objects.create(campaign=campaign, position=2, delay_days=28,
                                template_key="wb2", channels="sms")  # fmt: skip
    document = json.loads(json.dumps(program_export()))
    (row,) = document["campaigns"]
    assert row["segment"] == "Thrice" and "salt" not in row
    assert [s["template_key"] for s in row["steps"]] == ["wb1", "wb2"]
    assert row["steps"][0]["promotion"] == "Welcome"
    assert document["campaign_settings"]["frequency_cap"] == 3

    assert program_import(document) == []  # the same again: no change

    Campaign.objects.all().delete()
    changes = program_import(document, dry_run=True)
    assert not Campaign.objects.exists()
    assert {c.section for c in changes} >= {"campaigns"}
    program_import(document)
    copy = Campaign.objects.get(name="Win-back")
    assert copy.segment == segment and copy.control_percent == Decimal("15")
    assert list(copy.steps.values_list("position", "template_key", "delay_days")) == [
        (1, "wb1", 0),
        (2, "wb2", 28),
    ]

    row["steps"][0]["promotion"] = "No such"
    with pytest.raises(ValidationError, match="No such"):
        program_import(document)
