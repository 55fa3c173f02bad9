from django.db import migrations


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("members", "0015_visit_paid_cover_idx"),
        ("rewards", "0011_campaigns_journeys"),
        ("referrals", "0004_review_queue_names"),
        ("campaigns", "0011_fewer_send_indexes"),
    ]

    operations = []
