"""Change stamps that every process reads once per request.

Row ``CONFIG`` changes whenever a table that processes cache (program settings,
tiers, earn rates, services, locations…) changes; row ``CREDENTIALS`` whenever a
member token or POS key is revoked or a member's status changes. Database
triggers bump them (``core.stamps.triggers_install``), so an admin edit, a
``QuerySet.update()``, a migration or raw SQL are all seen alike, in the same
transaction as the change itself.
"""

from django.db import models


class Stamp(models.Model):
    CONFIG = 1
    CREDENTIALS = 2

    id = models.PositiveSmallIntegerField(primary_key=True)
    value = models.BigIntegerField(default=0)

    class Meta:
        db_table = "core_stamp"

    def __str__(self) -> str:
        return f"stamp {self.id}: {self.value}"
