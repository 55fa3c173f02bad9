"""Shared reads of the rewards app, one module per kind of reader:

- ``program``: settings, tiers and rates (cached per process), balances, the
  tier window, liability;
- ``pos``: the till's member lookup and a visit's outcome;
- ``app``: the member's app (points overview, catalogue, tier overview).

Callers import the package (``from rewards import selectors``).
"""

from rewards.selectors.app import *  # noqa: F403
from rewards.selectors.pos import *  # noqa: F403
from rewards.selectors.program import *  # noqa: F403
