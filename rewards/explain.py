"""Plain-words explanations of ledger entries and earnings (benefits: ``rewards.benefits``).

Entries store a reason code and its parameters, not a sentence, so the same
entry reads in the language of whoever reads it (the member's app, a Russian
front desk, an English operator). Every sentence here is translatable.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from members.money import currency_sign
from rewards.models import LedgerEntry


def points_money_text(points, amount) -> str:
    """Points paying part of a bill, as the front desk says it: "867 points (867.00 ₽)"."""
    return _("%(points)s (%(money)s)") % {
        "points": points_text(points),
        "money": f"{_money(amount)}\u00a0{currency_sign()}",
    }


def _date(value: str | None) -> str:
    if not value:
        return ""
    try:
        return date_format(date.fromisoformat(value), "j E Y")
    except ValueError:
        return value


def _money(value) -> str:
    return number_format(value, decimal_pos=2, use_l10n=True, force_grouping=True)


def number_text(value) -> str:
    """A rate or multiplier without trailing zeros, in the reader's language:
    5, 6.25, 10 (never 1E+1); "6,25" in Russian."""
    try:
        plain = Decimal(f"{Decimal(str(value)).normalize():f}")
    except (InvalidOperation, ValueError):
        return str(value)
    return number_format(plain, use_l10n=True, force_grouping=True)


def points_text(n: int) -> str:
    n = abs(int(n))
    return ngettext("%(n)s point", "%(n)s points", n) % {
        "n": number_format(n, force_grouping=True)
    }


def earn_text(calc) -> str:
    """ "150 points: 1 500.00 paid × 10% (Gold)" for a quote's earn."""
    if calc.points <= 0:
        return _("No points for this visit.")
    if calc.mode == "cashback":
        text = _("%(points)s: %(paid)s paid × %(rate)s%% cashback") % {
            "points": points_text(calc.points),
            "paid": _money(calc.paid),
            "rate": number_text(calc.rate),
        }
    else:
        text = _("%(points)s: %(paid)s paid × %(rate)s points per 100") % {
            "points": points_text(calc.points),
            "paid": _money(calc.paid),
            "rate": number_text(calc.rate),
        }
    if calc.tier_name and calc.multiplier != 1:
        # The rate shown already includes the multiplier: say so, or members
        # multiply twice.
        text += " " + _("(%(tier)s ×%(mult)s included)") % {
            "tier": calc.tier_name,
            "mult": number_text(calc.multiplier),
        }
    return text


def entry_text(entry: LedgerEntry) -> str:
    """What the member reads beside an entry in their history."""
    p = entry.params or {}
    r = entry.reason
    pts = points_text(entry.amount)
    if r == "earn_visit":
        if p.get("mode") == "cashback":
            text = _(
                "%(points)s for the visit on %(date)s: %(paid)s × %(rate)s%% cashback"
            )
        else:
            text = _(
                "%(points)s for the visit on %(date)s: %(paid)s × %(rate)s points per 100"
            )
        text = text % {
            "points": pts,
            "date": _date(p.get("date")),
            "paid": _money(p.get("paid", 0)),
            "rate": number_text(p.get("rate", "")),
        }
        if p.get("tier"):
            text += " " + _("(%(tier)s)") % {"tier": p["tier"]}
        if p.get("pending_days"):
            text += " " + ngettext(
                "— spendable after %(n)s day",
                "— spendable after %(n)s days",
                p["pending_days"],
            ) % {"n": p["pending_days"]}
        return text
    if r == "spend_visit":
        return _("%(points)s paid %(money)s of the visit on %(date)s") % {
            "points": pts,
            "money": _money(p.get("money", 0)),
            "date": _date(p.get("date")),
        }
    if r == "spend_reward":
        return _("%(points)s for the reward “%(reward)s” (voucher %(code)s)") % {
            **p,
            "points": pts,
        }
    if r == "return_voucher":
        # ``params`` carry the raw count under "points": the sentence wants words.
        text = _("%(points)s back: voucher %(code)s cancelled") % {**p, "points": pts}
        return text + _expired_note(p)
    if r == "return_visit":
        text = _("%(points)s back: visit #%(visit)s was %(status)s") % {
            "points": pts,
            "visit": p.get("visit"),
            "status": _status(p.get("status")),
        }
        return text + _expired_note(p)
    if r == "reverse_visit":
        text = _("%(points)s taken back: visit #%(visit)s was %(status)s") % {
            "points": points_text(p.get("points", entry.amount)),
            "visit": p.get("visit"),
            "status": _status(p.get("status")),
        }
        if p.get("debt"):
            text += " " + _(
                "(%(debt)s were already spent: they will be settled from future points)"
            ) % {"debt": points_text(p["debt"])}
        return text
    if r == "reverse_partial":
        text = _(
            "%(points)s taken back: part of the visit on %(date)s was refunded"
        ) % {
            "points": points_text(p.get("points", entry.amount)),
            "date": _date(p.get("date")),
        }
        if p.get("debt"):
            text += " " + _(
                "(%(debt)s were already spent: they will be settled from future points)"
            ) % {"debt": points_text(p["debt"])}
        return text
    if r == "return_partial":
        text = _("%(points)s back: part of the visit on %(date)s was refunded") % {
            "points": pts,
            "date": _date(p.get("date")),
        }
        return text + _expired_note(p)
    if r == "debt_settlement":
        return _("%(points)s settled an earlier points debt") % {"points": pts}
    if r == "adjust":
        # The amount reads without a sign, so the sentence says which way.
        if entry.amount < 0:
            text = _("%(points)s removed by the salon: %(note)s")
        else:
            text = _("%(points)s added by the salon: %(note)s")
        return text % {"points": pts, "note": entry.note}
    if r == "expire":
        return _("%(points)s expired") % {"points": pts}
    if r == "expire_inactive":
        return _("%(points)s expired: no visits for %(months)s months") % {
            "points": pts,
            "months": p.get("months", ""),
        }
    if r == "bonus":
        return _("%(points)s bonus") % {"points": pts}
    if r == "promotion_bonus":
        return _("%(points)s from the promotion “%(name)s”") % {
            "points": pts,
            "name": p.get("name", ""),
        }
    if r == "campaign_bonus":
        return _("%(points)s, a gift of the campaign “%(name)s”") % {
            "points": pts,
            "name": p.get("name", ""),
        }
    if r == "promotion_bonus_reversed":
        text = _("%(points)s taken back: the visit with a promotion was undone") % {
            "points": points_text(p.get("points", entry.amount))
        }
        if p.get("debt"):
            text += " " + _(
                "(%(debt)s were already spent: they will be settled from future points)"
            ) % {"debt": points_text(p["debt"])}
        return text
    if r == "referral_referrer":
        return _("%(points)s for inviting a friend who came for a first visit") % {
            "points": pts
        }
    if r == "referral_friend":
        return _("%(points)s welcome reward: you came on a friend's invitation") % {
            "points": pts
        }
    if r == "referral_annulled":
        text = _(
            "%(points)s taken back: the referral was annulled (the first visit "
            "was %(status)s)"
        ) % {
            "points": points_text(p.get("points", entry.amount)),
            "status": _status(p.get("status")),
        }
        if p.get("debt"):
            text += " " + _(
                "(%(debt)s were already spent: they will be settled from future points)"
            ) % {"debt": points_text(p["debt"])}
        return text
    return entry.get_kind_display()


def _expired_note(p: dict) -> str:
    if p.get("expired"):
        return " " + _("(%(points)s had expired meanwhile)") % {
            "points": points_text(p["expired"])
        }
    return ""


def _status(status: str | None) -> str:
    return {"cancelled": _("cancelled"), "refunded": _("refunded")}.get(
        status or "", status or ""
    )
