"""The analytics app's tables: daily aggregates (``daily``) and the
breakdowns of specialists, services and marketing spend (``extra``), the
distinct-member window figures (``spans``)."""

from analytics.models.daily import *  # noqa: F403
from analytics.models.extra import *  # noqa: F403
from analytics.models.spans import *  # noqa: F403
