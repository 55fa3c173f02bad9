from django.core.management.base import BaseCommand

from members.messaging.services import messages_deliver_due


class Command(BaseCommand):
    help = (
        "Send the outbox's due queued messages now (what the every-minute beat "
        "task does). Safe beside running workers: each message is claimed first."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit",
            type=int,
            default=500,
            help="Attempt at most this many messages (default 500).",
        )

    def handle(self, *args, limit: int, **options):
        attempted = messages_deliver_due(limit=limit)
        self.stdout.write(self.style.SUCCESS(f"{attempted} message(s) attempted"))
