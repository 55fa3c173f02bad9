"""The member page's referrals panel: code, the invitation joined with, invites."""

from django.urls import reverse

from members import services as member_services
from referrals.models import ReferralCode
from referrals.services import referral_code_for
from tests.factories import MemberFactory


def page(client, member) -> str:
    response = client.get(reverse("admin:members_member_change", args=[member.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_referrer_and_a_friend_see_each_other(manager_client, record_visit):
    # Given Anna invited Boris, who came for a first visit
    anna = member_services.member_register(phone="+79160000010", first_name="Anna")
    code = referral_code_for(member=anna).code
    boris = member_services.member_register(
        phone="+79160000011", first_name="Boris", referral_code=code, channel="pos"
    )
    record_visit(boris)

    # Then Anna's page shows her code and link and what the invitation brought
    html = page(manager_client, anna)
    assert code in html
    assert f"/r/{code}" in html
    assert "1 friend" in html
    assert "1 rewarded, 500 points earned" in html
    assert "this month 1 of 10" in html
    assert f"?referrer={anna.pk}" in html

    # And Boris's page says whose invitation he joined with, and its state
    html = page(manager_client, boris)
    assert "an invitation from" in html
    assert reverse("admin:members_member_change", args=[anna.pk]) in html
    assert "Rewarded" in html


def test_viewing_a_page_makes_no_code(front_desk_client):
    member = MemberFactory()

    html = page(front_desk_client, member)

    assert "Not made yet" in html
    assert "no invitation" in html
    assert not ReferralCode.objects.filter(member=member).exists()
