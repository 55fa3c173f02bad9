"""``manage.py campaign_backtest ID --months N [--promotion]``: the backtest
of a (draft) campaign or promotion, as the editor shows it: the month table,
the totals and the notes."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from campaigns.backtest import backtest
from campaigns.models import Campaign, Promotion


class Command(BaseCommand):
    help = (
        "Replay the last N months of visits under a campaign (or, with "
        "--promotion, a promotion): who would have qualified, how often, and "
        "the cost, month by month. Writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("id", type=int, help="The campaign's (or promotion's) id.")
        parser.add_argument(
            "--months", type=int, default=6, help="Months to replay, 1-24 (default 6)."
        )
        parser.add_argument(
            "--promotion", action="store_true", help="ID is a promotion's."
        )

    def handle(self, *args, id, months, promotion, **options):
        if not 1 <= months <= 24:
            raise CommandError(_("--months must be between 1 and 24."))
        model = Promotion if promotion else Campaign
        obj = model.objects.filter(pk=id).first()
        if obj is None:
            if promotion:
                raise CommandError(_("No promotion with id %(id)s.") % {"id": id})
            raise CommandError(
                _("No campaign with id %(id)s (a promotion? add --promotion).")
                % {"id": id}
            )
        result = backtest(obj, months=months)
        self.stdout.write(f"{obj} — {months}")
        table = result.as_table()
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for index, row in enumerate(table):
            if index == len(table) - 1:
                self.stdout.write("-" * (sum(widths) + 2 * (len(widths) - 1)))
            self.stdout.write(
                "  ".join(
                    cell.ljust(w) if i == 0 else cell.rjust(w)
                    for i, (cell, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        for note in result.notes:
            self.stdout.write(f"* {note}")
        self.stdout.write(_("%(seconds).2f s") % {"seconds": result.seconds})
