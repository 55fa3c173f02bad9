"""Trial and development settings: DEBUG on, everything embedded by default."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
