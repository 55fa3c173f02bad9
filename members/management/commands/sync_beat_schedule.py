from django.core.management.base import BaseCommand

from config.celery import BEAT_SCHEDULE
from members.platform_services import beat_schedule_sync


class Command(BaseCommand):
    help = (
        "Write the periodic tasks defined in config/celery.py into the database "
        "scheduler. Idempotent; keeps each task's enabled/disabled state."
    )

    def handle(self, *args, **options):
        result = beat_schedule_sync(BEAT_SCHEDULE)
        for name in result.created:
            self.stdout.write(f"created: {name}")
        for name in result.updated:
            self.stdout.write(f"updated: {name}")
        for name in result.unknown:
            self.stdout.write(self.style.WARNING(f"not in code (left as is): {name}"))
        unchanged = len(BEAT_SCHEDULE) - len(result.created) - len(result.updated)
        self.stdout.write(
            self.style.SUCCESS(f"{len(BEAT_SCHEDULE)} task(s), {unchanged} unchanged")
        )
