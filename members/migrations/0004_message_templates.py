"""Default message templates (English and Russian) for the messages sent today.

Inserted with get_or_create: running it again, or after an operator edited a
template in the admin, never overwrites their text. Reversing removes nothing
(the operator's edits would be lost with it).

Contexts: otp_code {code, minutes}; points_expiring {points, expires_on (a
date)}; voucher_issued {reward, code, valid_until (a datetime)}; every template
also sees ``member`` (may be None).
"""

from django.db import migrations

_HELLO_EN = "Hello{% if member.first_name %}, {{ member.first_name }}{% endif %}!"
_HELLO_RU = (
    "Здравствуйте{% if member.first_name %}, {{ member.first_name }}{% endif %}!"
)

_EXPIRING_EN = (
    "{{ points }} of your points expire on {{ expires_on|date:'F j' }}. "
    "Use them on your next visit."
)
_EXPIRING_RU = (
    "{{ expires_on|date:'j E' }} сгорят ваши баллы: {{ points }}. "
    "Потратьте их на следующем визите."
)
_VOUCHER_EN = (
    "{{ reward }} is yours. Show the code {{ code }} at the front desk"
    "{% if valid_until %} by {{ valid_until|date:'F j, Y' }}{% endif %}."
)
_VOUCHER_RU = (
    "Награда «{{ reward }}» ваша. Покажите код {{ code }} администратору"
    "{% if valid_until %} до {{ valid_until|date:'j E Y' }} г.{% endif %}"
)

# (key, channel, language, subject, body)
TEMPLATES = [
    (
        "otp_code",
        "sms",
        "en",
        "",
        "Your Regulars code: {{ code }}. It expires in {{ minutes }} min.",
    ),
    (
        "otp_code",
        "sms",
        "ru",
        "",
        "Ваш код Regulars: {{ code }}. Действует {{ minutes }} мин.",
    ),
    ("points_expiring", "sms", "en", "", f"Regulars: {_EXPIRING_EN}"),
    ("points_expiring", "sms", "ru", "", f"Regulars: {_EXPIRING_RU}"),
    ("points_expiring", "push", "en", "Your points expire soon", _EXPIRING_EN),
    ("points_expiring", "push", "ru", "Баллы скоро сгорят", _EXPIRING_RU),
    ("points_expiring", "in_app", "en", "Your points expire soon", _EXPIRING_EN),
    ("points_expiring", "in_app", "ru", "Баллы скоро сгорят", _EXPIRING_RU),
    (
        "points_expiring",
        "email",
        "en",
        "Your points expire on {{ expires_on|date:'F j' }}",
        f"{_HELLO_EN}\n\n"
        "{{ points }} of your points expire on "
        "{{ expires_on|date:'F j, Y' }}. Until then you can pay part of your "
        "next visit with them or exchange them for a reward.\n\n"
        "See you soon!\nRegulars",
    ),
    (
        "points_expiring",
        "email",
        "ru",
        "Ваши баллы сгорят {{ expires_on|date:'j E' }}",
        f"{_HELLO_RU}\n\n"
        "{{ expires_on|date:'j E Y' }} г. сгорят ваши баллы: {{ points }}. "
        "До этого дня ими можно оплатить часть следующего визита или "
        "обменять их на награду.\n\n"
        "До встречи!\nRegulars",
    ),
    ("voucher_issued", "in_app", "en", "Your reward is ready", _VOUCHER_EN),
    ("voucher_issued", "in_app", "ru", "Ваша награда готова", f"{_VOUCHER_RU}."),
    ("voucher_issued", "push", "en", "Your reward is ready", _VOUCHER_EN),
    ("voucher_issued", "push", "ru", "Ваша награда готова", f"{_VOUCHER_RU}."),
    (
        "voucher_issued",
        "email",
        "en",
        "Your reward is ready: {{ reward }}",
        f"{_HELLO_EN}\n\n{_VOUCHER_EN}\n\nSee you soon!\nRegulars",
    ),
    (
        "voucher_issued",
        "email",
        "ru",
        "Ваша награда готова: {{ reward }}",
        f"{_HELLO_RU}\n\n{_VOUCHER_RU}.\n\nДо встречи!\nRegulars",
    ),
]


def add_templates(apps, schema_editor):
    MessageTemplate = apps.get_model("members", "MessageTemplate")
    for key, channel, language, subject, body in TEMPLATES:
        MessageTemplate.objects.get_or_create(
            key=key,
            channel=channel,
            language=language,
            defaults={"subject": subject, "body": body},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0003_api_access_outbox_refunds"),
    ]

    operations = [
        migrations.RunPython(add_templates, migrations.RunPython.noop),
    ]
