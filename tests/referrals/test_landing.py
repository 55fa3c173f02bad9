"""The public landing page of a referral link, /r/<code>: who invites, what the
friend gets in words, the code and how to use it, a QR of the link; a friendly
404 for a code that does not work; English and Russian by Accept-Language."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from members import privacy
from members.models import Member
from members.qr import qr_svg
from members.services import member_update
from referrals.models import ReferralProgram
from referrals.services import referral_code_for
from tests.referrals.conftest import member_new, referral_program

pytestmark = pytest.mark.django_db

PERCENT = ReferralProgram.RewardKind.PERCENT


def landing(client, code: str, **headers):
    return client.get(reverse("referral-landing", kwargs={"code": code}), **headers)


def text_of(response) -> str:
    """The page with runs of ASCII whitespace made one space (a no-break
    space between an amount and its currency stays)."""
    return re.sub(r"[ \t\n]+", " ", response.content.decode())


def test_the_page_names_the_referrer_and_says_what_the_friend_gets(client, referrer):
    # Given the shipped terms: 500 points, valid 60 days, not stacking
    response = landing(client, referrer.code)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = text_of(response)
    assert "Olga P. invites you" in page
    assert "You get 500 points after your first paid visit." in page
    assert "The points are valid for 60 days." in page
    assert "you get the better of the two" in page
    assert f'<p class="code">{referrer.code}</p>' in page
    assert "Enter the code in our app when you sign in" in page
    assert "tell it at the front desk" in page
    # Never the referrer's phone or surname
    assert "Petrova" not in page
    assert str(referrer.phone)[-4:] not in page
    assert '<meta name="robots" content="noindex, nofollow">' in page


def test_the_qr_encodes_the_link(client, referrer, settings):
    settings.REFERRAL_LINK_TEMPLATE = "https://app.example.com/join?code={code}"

    response = landing(client, referrer.code)

    link = f"https://app.example.com/join?code={referrer.code}"
    assert str(qr_svg(link, scale=5)) in response.content.decode()


def test_without_a_link_template_the_qr_is_of_the_page_itself(client, referrer):
    response = landing(client, referrer.code)

    link = f"http://testserver/r/{referrer.code}"
    assert str(qr_svg(link, scale=5)) in response.content.decode()


def test_the_code_is_read_whatever_the_case_and_dashes(client, referrer):
    typed = f"{referrer.code[:3].lower()}-{referrer.code[3:].lower()}"

    response = landing(client, typed)

    assert response.status_code == 200
    assert f'<p class="code">{referrer.code}</p>' in text_of(response)


def test_a_percent_reward_with_a_minimum_is_told_in_words(client, referrer):
    referral_program(
        friend_reward_kind=PERCENT,
        friend_reward_value=Decimal("7.50"),
        min_first_visit_amount=Decimal("1500.00"),
        bonus_validity_days=1,
        stacks_with_first_visit=True,
    )

    page = text_of(landing(client, referrer.code))

    assert (
        "You get 7.5% of your first paid visit back in points, if the visit is "
        "at least 1,500\u00a0₽." in page
    )
    assert "The points are valid for 1 day." in page
    assert "better of the two" not in page


def test_a_points_reward_with_a_minimum(client, referrer):
    referral_program(friend_reward_value=300, min_first_visit_amount=Decimal("999.5"))

    page = text_of(landing(client, referrer.code))

    assert (
        "You get 300 points after your first paid visit of at least "
        "999.50\u00a0₽." in page
    )


def test_no_welcome_reward_still_shows_the_code(client, referrer):
    referral_program(friend_reward_value=0)

    page = text_of(landing(client, referrer.code))

    assert "You get" not in page
    assert f'<p class="code">{referrer.code}</p>' in page


def test_a_paused_program_says_so_and_hides_the_code(client, referrer):
    referral_program(is_active=False)

    response = landing(client, referrer.code)

    assert response.status_code == 200
    page = text_of(response)
    assert "Olga P. invites you" in page
    assert "The invitation program is paused" in page
    assert referrer.code not in page
    assert "<svg" not in page


@pytest.mark.parametrize("code", ["NOPE123", "----", "x" * 40])
def test_an_unknown_code_is_a_friendly_404_page(client, referrer, code):
    response = landing(client, code)

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    page = text_of(response)
    assert "This invitation link does not work" in page
    assert "You are welcome without a code too." in page


def test_an_erased_members_code_is_a_404(client, referrer):
    privacy.member_erase(member=referrer)

    response = landing(client, referrer.code)

    assert response.status_code == 404
    assert "Olga" not in text_of(response)


def test_a_blocked_members_code_is_a_404(client, referrer):
    member_update(member=referrer, status=Member.Status.BLOCKED)

    assert landing(client, referrer.code).status_code == 404


def test_the_friends_name_is_escaped(client):
    sneaky = member_new(first_name="<script>alert(1)</script>")
    code = referral_code_for(member=sneaky).code

    body = landing(client, code).content.decode()

    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_the_page_is_in_russian_for_a_russian_browser(client, referrer):
    response = landing(client, referrer.code, HTTP_ACCEPT_LANGUAGE="ru")

    assert response["Content-Language"] == "ru"
    page = text_of(response)
    assert '<html lang="ru">' in page
    assert "Olga P. приглашает вас" in page
    assert "Вы получите 500 баллов после первого оплаченного визита." in page
    assert "Баллы действуют 60 дней." in page
    assert "Как воспользоваться" in page


def test_the_404_page_is_in_russian_too(client):
    response = landing(client, "NOPE123", HTTP_ACCEPT_LANGUAGE="ru")

    assert response.status_code == 404
    assert "Эта ссылка-приглашение не работает" in text_of(response)


def test_only_get_and_head_are_allowed(client, referrer):
    url = reverse("referral-landing", kwargs={"code": referrer.code})

    assert client.head(url).status_code == 200
    assert client.post(url).status_code == 405
