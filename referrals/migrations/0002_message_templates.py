"""Message templates (English and Russian) of the referral notices.

Inserted with get_or_create, like members 0004: an operator's edits survive a
re-run; reversing removes nothing.

Contexts: referral_signed_up {friend}; referral_rewarded {points, friend,
days}; referral_welcome {points, days}; every template also sees ``member``.
"""

from django.db import migrations

_SIGNED_UP_EN = (
    "{{ friend }} joined with your invitation. You get your reward after "
    "their first paid visit."
)
_SIGNED_UP_RU = (
    "{{ friend }} присоединился(-ась) по вашему приглашению. Бонус придёт "
    "после первого оплаченного визита друга."
)
_REWARDED_EN = (
    "{{ points }} points for inviting {{ friend }}: thank you! They are "
    "valid for {{ days }} days."
)
_REWARDED_RU = (
    "Начислено баллов за приглашение друга ({{ friend }}): {{ points }}. "
    "Спасибо! Баллы действуют {{ days }} дн."
)
_WELCOME_EN = (
    "Welcome! {{ points }} points for coming on a friend's invitation. "
    "They are valid for {{ days }} days."
)
_WELCOME_RU = (
    "Добро пожаловать! Начислено баллов за визит по приглашению друга: "
    "{{ points }}. Баллы действуют {{ days }} дн."
)

_EN = {
    "referral_signed_up": ("Your friend joined", _SIGNED_UP_EN),
    "referral_rewarded": ("Thank you for the invitation", _REWARDED_EN),
    "referral_welcome": ("Your welcome reward", _WELCOME_EN),
}
_RU = {
    "referral_signed_up": ("Ваш друг с нами", _SIGNED_UP_RU),
    "referral_rewarded": ("Спасибо за приглашение", _REWARDED_RU),
    "referral_welcome": ("Приветственный бонус", _WELCOME_RU),
}


def _templates():
    for language, texts, hello, bye in (
        (
            "en",
            _EN,
            "Hello{% if member.first_name %}, {{ member.first_name }}{% endif %}!",
            "See you soon!\nRegulars",
        ),
        (
            "ru",
            _RU,
            "Здравствуйте{% if member.first_name %}, "
            "{{ member.first_name }}{% endif %}!",
            "До встречи!\nRegulars",
        ),
    ):
        for key, (subject, body) in texts.items():
            yield key, "in_app", language, subject, body
            yield key, "push", language, subject, body
            yield key, "sms", language, "", f"Regulars: {body}"
            yield key, "email", language, subject, f"{hello}\n\n{body}\n\n{bye}"


def add_templates(apps, schema_editor):
    MessageTemplate = apps.get_model("members", "MessageTemplate")
    for key, channel, language, subject, body in _templates():
        MessageTemplate.objects.get_or_create(
            key=key,
            channel=channel,
            language=language,
            defaults={"subject": subject, "body": body},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0001_initial"),
        ("members", "0005_phone_history_card_hash_device"),
    ]

    operations = [
        migrations.RunPython(add_templates, migrations.RunPython.noop),
    ]
