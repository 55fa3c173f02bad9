from django.core.management.base import BaseCommand

from members.platform_services import roles_sync


class Command(BaseCommand):
    help = (
        "Create the staff groups (Manager, Front desk, Analyst) with their permissions."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Also remove permissions an operator added to these groups by hand.",
        )

    def handle(self, *args, reset=False, **options):
        result = roles_sync(reset=reset)
        for role, count in result.granted.items():
            state = "created" if role in result.created else "exists"
            self.stdout.write(f"{role}: {state}, {count} permission(s) granted")
        for role, extra in result.extra.items():
            self.stdout.write(
                self.style.WARNING(
                    f"{role} keeps hand-added permissions: {', '.join(extra)}"
                )
            )
