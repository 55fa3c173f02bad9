from django.core.management.base import BaseCommand

from members.services import member_stats_reconcile


class Command(BaseCommand):
    help = "Recompute cached member visit stats where they differ from the visits."

    def handle(self, *args, **options):
        repaired = member_stats_reconcile()
        self.stdout.write(self.style.SUCCESS(f"{repaired} member(s) repaired"))
