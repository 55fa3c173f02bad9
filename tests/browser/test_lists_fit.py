"""Every list's columns fit a 1440-px screen, in English and Russian.

On the demo chain (long names, every status, referrals and vouchers), the
manager opens each list: its table must not scroll sideways, so the columns
at the right (a message's status, a member's last visit) stay in view.
"""

import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTS = [
    "/admin/members/member/",
    "/admin/members/visit/",
    "/admin/members/message/",
    "/admin/referrals/referral/",
    "/admin/referrals/heldreferral/",
    "/admin/referrals/referrer/",
    "/admin/rewards/voucher/",
    "/admin/rewards/reward/",
    "/admin/rewards/ledgerentry/",
    "/admin/rewards/wallet/",
    "/admin/rewards/jobrun/",
]


@pytest.fixture
def demo(program_defaults):
    for command, kwargs in [
        ("seed_demo", {"members": 60}),
        ("seed_program_demo", {}),
        ("points_backfill", {"spend_every": 4}),
        ("run_daily_jobs", {}),
        ("seed_vouchers_demo", {}),
        ("seed_referrals_demo", {}),
    ]:
        call_command(command, verbosity=0, **kwargs)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_every_list_fits_1440_px(demo, manager, language):
    manager.set_viewport_size({"width": 1440, "height": 900})
    manager.context.add_cookies(
        [{"name": "django_language", "value": language, "url": manager.url}]
    )
    too_wide = {}
    for path in LISTS:
        manager.goto(path)
        widths = manager.evaluate(
            """() => { const r = document.querySelector('#changelist .results');
                       return r ? [r.scrollWidth, r.clientWidth] : null; }"""
        )
        assert widths is not None, f"{path}: no rows to measure"
        if widths[0] > widths[1] + 1:
            too_wide[path] = widths
    assert too_wide == {}
