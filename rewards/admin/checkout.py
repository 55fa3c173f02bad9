"""The front desk's checkout page: find the client, pick services, quote, record.

``admin/rewards/checkout/`` prices the visit with ``checkout_quote`` (which
writes nothing) and records it with ``checkout_commit``. The form carries a
one-use token passed as the visit's external id, so a double click, a
resubmitted page or a retry after a timeout records the visit once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.models import ADDITION, LogEntry
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from members import selectors as member_selectors
from members.admin import CHECKOUT_FROM_VAR
from members.admin_helpers import phone_of
from members.admin_text import printable
from members.cards import card_code_of
from members.models import Location, Member, Visit
from members.money import money_text
from rewards import selectors
from rewards.admin.members import tier_progress_text
from rewards.admin.vouchers import looks_like_voucher_code
from rewards.benefits import benefit_text
from rewards.explain import entry_text
from rewards.forms import (
    PAYMENT_METHOD_DEFAULT,
    CheckoutForm,
    CheckoutLineFormSet,
    errors_to_form,
    promo_codes_split,
    service_choices,
    specialist_choices,
    token_new,
    voucher_codes_split,
)
from rewards.models import LedgerEntry, TierChange, VisitBenefit, Voucher
from rewards.services.checkout import checkout_commit, checkout_quote
from rewards.services.price_changes import PriceAuthority, price_authority_of

CHECKOUT_PERMISSION = "members.add_visit"
FIND_LIMIT = 8
SESSION_LOCATION = "rewards_checkout_location"
# Reward kinds the checkout prices; the others are honoured outside the bill.
CHECKOUT_KINDS = {
    "free_service",
    "add_on",
    "extended_session",
    "percent_discount",
    "fixed_discount",
}


# --- Finding the member -----------------------------------------------------


@dataclass(frozen=True)
class Found:
    """What a search found: the candidates, and the voucher whose code was typed
    (then its holder is the one candidate)."""

    members: list[Member]
    voucher: Voucher | None = None


def members_find(request, term: str, *, limit: int = FIND_LIMIT) -> Found:
    """Members matching what the front desk typed or scanned.

    ``#123`` is a member number; the code of a member's card (what the app
    shows, as text or QR) finds them, and a voucher code its holder; a whole
    phone number in any format matches exactly; anything else goes through the
    member list's own search (phone digits, names, email).
    """
    term = printable(term)
    if not term:
        return Found([])
    members = Member.objects.exclude(status=Member.Status.ERASED).select_related(
        "wallet__tier"
    )
    number = re.fullmatch(r"(?:#|no\.?|№)\s*(\d{1,18})", term, flags=re.IGNORECASE)
    if number:
        return Found(list(members.filter(pk=int(number[1]))))
    by_code = _find_by_code(members, term)
    if by_code is not None:
        return by_code
    phone = phone_of(term)
    if phone:
        return Found(list(members.filter(phone=phone)))
    member_admin = admin.site._registry[Member]
    found_qs, _dup = member_admin.get_search_results(request, members, term)
    found = list(
        found_qs.order_by(F("last_visit_at").desc(nulls_last=True), "pk")[:limit]
    )
    if term.isdigit() and len(term) <= 9:
        by_number = members.filter(pk=int(term)).first()
        if by_number is not None and by_number not in found:
            found.insert(0, by_number)
    return Found(found[:limit])


def _find_by_code(members, term: str) -> Found | None:
    """A card's or a voucher's code, or None when ``term`` matches neither.

    Both kinds of code share one alphabet and length, so a code is looked up
    as both (each by a unique index). Codes are tried before phones: the phone
    library would read "8459XGTCS4" as a number, and a code may be all digits.
    """
    found: list[Member] = []
    card = card_code_of(term)
    if card:
        found = list(members.filter(card_code=card))
    voucher = None
    code = looks_like_voucher_code(term)
    if code:
        voucher = Voucher.objects.select_related("reward").filter(code=code).first()
    if voucher is not None and all(m.pk != voucher.member_id for m in found):
        found += list(members.filter(pk=voucher.member_id))
    if not found:
        return None
    if voucher is not None and (
        len(found) > 1 or found[0].pk != voucher.member_id
    ):  # a card and a voucher of two people: the desk picks, nothing applied
        voucher = None
    return Found(found, voucher)


def voucher_offer(voucher: Voucher, *, now=None) -> tuple[bool, str]:
    """Whether the checkout applies ``voucher`` (found by its code), and what
    the desk is told about it. The quote checks it again, as for any code."""
    now = now or timezone.now()
    names = {"code": voucher.code, "reward": voucher.reward.name}
    if voucher.status == Voucher.Status.USED:
        return False, _("Voucher %(code)s (%(reward)s) was used already.") % names
    if voucher.status == Voucher.Status.CANCELLED:
        return False, _("Voucher %(code)s (%(reward)s) was cancelled.") % names
    if voucher.status != Voucher.Status.ACTIVE or voucher.valid_until <= now:
        return False, _("Voucher %(code)s (%(reward)s) expired on %(date)s.") % {
            **names,
            "date": date_format(
                timezone.localtime(voucher.valid_until), "SHORT_DATE_FORMAT"
            ),
        }
    if voucher.reward.kind not in CHECKOUT_KINDS:
        return False, _(
            "Voucher %(code)s (%(reward)s) is given outside the bill, not at "
            "the checkout."
        ) % names
    return True, _(
        "Voucher %(code)s (%(reward)s) is applied: pick the services and press Quote."
    ) % names


def register_url(request, find: str) -> str:
    """The member add form, for a client the search did not find: with the
    phone typed (if it is one) and the desk's location, and back here after.
    """
    params = {CHECKOUT_FROM_VAR: "1"}
    phone = phone_of(printable(find)) if find else None
    if phone:
        params["phone"] = phone
    location = _default_location(request, None)
    if location:
        params["registration_location"] = location
    return f"{reverse('admin:members_member_add')}?{urlencode(params)}"


def member_card(member: Member) -> dict:
    """What the desk sees of the client while pricing: tier, points, vouchers."""
    progress = selectors.tier_progress(member=member)
    vouchers = list(
        Voucher.objects.filter(
            member=member,
            status=Voucher.Status.ACTIVE,
            valid_until__gt=timezone.now(),
        )
        .select_related("reward", "reward__service")
        .order_by("valid_until", "pk")[:20]
    )
    for voucher in vouchers:
        voucher.usable_at_checkout = voucher.reward.kind in CHECKOUT_KINDS
    summary = selectors.points_summary(member=member)
    return {
        "member": member,
        "summary": summary,
        "available_text": points_text(summary.available),
        "progress": progress,
        "progress_text": tier_progress_text(progress),
        "vouchers": vouchers,
        "member_url": reverse("admin:members_member_change", args=[member.pk]),
    }


def _member_from(value) -> Member | None:
    if value is None or not str(value).isdigit():
        return None
    return (
        Member.objects.exclude(status=Member.Status.ERASED)
        .select_related("registration_location")
        .filter(pk=int(value))
        .first()
    )


def _default_location(request, member: Member | None) -> int | None:
    active = Location.objects.filter(is_active=True)
    remembered = request.session.get(SESSION_LOCATION)
    if remembered and active.filter(pk=remembered).exists():
        return remembered
    home = member.registration_location_id if member is not None else None
    if home and active.filter(pk=home).exists():
        return home
    only = list(active.values_list("pk", flat=True)[:2])
    return only[0] if len(only) == 1 else None


# --- The page ---------------------------------------------------------------


def checkout_view(request):
    if not request.user.has_perm(CHECKOUT_PERMISSION):
        raise PermissionDenied
    choices = {
        "choices": service_choices(),
        "specialist_choices": specialist_choices(),
    }
    authority = price_authority_of(request.user)
    allow_price = authority is not PriceAuthority.NONE
    if request.method == "POST":
        return _checkout_post(request, choices, authority)
    find = request.GET.get("find", "").strip()[:100]
    candidates: list[Member] = []
    member = _member_from(request.GET.get("member"))
    voucher_note, voucher_codes = None, ""
    if member is None and find:
        found = members_find(request, find)
        candidates = found.members
        if len(candidates) == 1:
            member, candidates = candidates[0], []
            if found.voucher is not None:
                # A voucher's code finds its holder and goes on the bill.
                applied, text = voucher_offer(found.voucher)
                voucher_note = {"applied": applied, "text": text}
                voucher_codes = found.voucher.code if applied else ""
    form = CheckoutForm(
        initial={
            "member": member.pk if member else None,
            "location": _default_location(request, member),
            "voucher_codes": voucher_codes,
            "token": token_new(),
        },
        allow_price=allow_price,
    )
    lines = CheckoutLineFormSet(
        prefix="lines", form_kwargs={**choices, "allow_price": allow_price}
    )
    return _render(
        request,
        form=form,
        lines=lines,
        member=member,
        find=find,
        candidates=candidates,
        searched=bool(find),
        voucher_note=voucher_note,
        register_url=register_url(request, find) if find and not member else "",
    )


def _checkout_post(request, choices, authority):
    data = request.POST.copy()
    codes = voucher_codes_split(data.get("voucher_codes", ""))
    if data.get("apply_voucher"):
        codes = voucher_codes_split(" ".join([*codes, data["apply_voucher"]]))
    data["voucher_codes"] = " ".join(codes)
    if "promo_codes" in data:  # shown as read: upper case, one space apart
        data["promo_codes"] = " ".join(promo_codes_split(data["promo_codes"]))
    # Asked beside "Record" once there is a quote; until then, the default.
    if not data.get("payment_method"):
        data["payment_method"] = PAYMENT_METHOD_DEFAULT
    allow_price = authority is not PriceAuthority.NONE
    form = CheckoutForm(data, allow_price=allow_price)
    lines = CheckoutLineFormSet(
        data,
        prefix="lines",
        form_kwargs={**choices, "allow_price": allow_price},
    )
    member = _member_from(data.get("member"))
    quote, stale = None, None
    if form.is_valid() and lines.is_valid():
        cd = form.cleaned_data
        request.session[SESSION_LOCATION] = cd["location"].pk
        order = {
            "member": cd["member"],
            "location": cd["location"],
            "lines": lines.inputs(cd.get("price_reason", "")),
            "voucher_codes": cd["voucher_codes"],
            **form.promo_inputs(),
            "price_authority": authority,
        }
        try:
            if "commit" in data:
                done = _commit(request, cd, order)
                if isinstance(done, HttpResponseRedirect):
                    return done
                quote, stale = done
            else:
                points = cd["points"]
                if "use_max_points" in data:
                    points = checkout_quote(**order, points_to_use=0).points_max
                    data["points"] = str(points) if points else ""
                quote = checkout_quote(**order, points_to_use=points)
        except ValidationError as exc:
            errors_to_form(exc, form, lines)
            quote = None
        if quote is not None:
            # What the client was told: "Record" re-checks it (see _commit).
            data["quoted_amount"] = str(quote.amount_to_pay)
    return _render(
        request, form=form, lines=lines, member=member, quote=quote, stale=stale
    )


def _commit(request, cd, order):
    """Record the visit, unless its price moved since the desk quoted it.

    Returns a redirect to the result, or ``(quote, stale)`` when the desk must
    look at the price first: never quoted, or changed since (``stale["before"]``
    is then what was quoted).
    """
    token = cd["token"]
    if not token:
        raise ValidationError(_("This form is out of date: reload the page."))
    earlier = member_selectors.visit_by_external_id(
        source=Visit.Source.ADMIN, external_id=token
    )
    if earlier is not None and earlier.member_id == cd["member"].pk:
        return _done_redirect(earlier, again=True)
    quote = checkout_quote(**order, points_to_use=cd["points"])
    if cd["quoted_amount"] is None or quote.amount_to_pay != cd["quoted_amount"]:
        # Vouchers used elsewhere, points spent meanwhile, a line changed after
        # the quote: show the new price instead of charging a different one.
        before = cd["quoted_amount"]
        return quote, {"before": money_text(before) if before is not None else ""}
    result = checkout_commit(
        **order,
        points_to_use=cd["points"],
        external_id=token,
        recorded_by=request.user,
        note=cd["note"],
        payment_method=cd["payment_method"],
    )
    if result.created:
        _log_price_changes(request, result)
    return _done_redirect(result.visit, again=not result.created)


def _log_price_changes(request, result) -> None:
    """Prices other than the services' go into the visit's admin history too
    (the lines keep them with their reason): who, what, from what, why."""
    changed = [
        ln
        for ln in result.visit.lines_recorded
        if ln.list_price is not None and ln.price != ln.list_price
    ]
    if not changed:
        return
    message = "; ".join(
        _("%(service)s: %(list)s → %(price)s (%(reason)s)")
        % {
            "service": ln.service.name,
            "list": money_text(ln.list_price),
            "price": money_text(ln.price),
            "reason": ln.price_reason,
        }
        for ln in changed
    )
    LogEntry.objects.log_actions(
        user_id=request.user.pk,
        queryset=[result.visit],
        action_flag=ADDITION,
        change_message=_("Recorded at the checkout with prices changed: %s") % message,
        single_object=True,
    )


def _done_redirect(visit: Visit, *, again: bool) -> HttpResponseRedirect:
    url = reverse("admin:rewards_checkout_done", args=[visit.pk])
    return HttpResponseRedirect(url + ("?again=1" if again else ""))


def _render(request, *, form, lines, member=None, quote=None, stale=None, **extra):
    context = {
        **admin.site.each_context(request),
        "title": _("Checkout"),
        "form": form,
        "lines": lines,
        "quote": quote,
        "stale": stale,
        "card": member_card(member) if member is not None else None,
        "media": form.media + lines.media,
        "autocomplete_url": reverse("admin:autocomplete"),
        "app_name": apps.get_app_config("rewards").verbose_name,
        **extra,
    }
    if quote is not None:
        context["quote_view"] = quote_view(quote)
    return TemplateResponse(request, "admin/rewards/checkout.html", context)


def points_text(n) -> str:
    return number_format(n or 0, force_grouping=True)


def quote_view(quote) -> dict:
    """The quote shaped for the page: amounts as text, benefits explained."""
    return {
        # Money as money everywhere on the page ("4,165 ₽", never "4,165.00"
        # beside it), counts of points grouped ("5,529").
        "lines": [
            {
                "service": ln.service,
                "quantity": ln.quantity,
                "gross": money_text(ln.gross),
                "discount": money_text(ln.discount) if ln.discount else "",
                "points_money": money_text(ln.points_money) if ln.points_money else "",
                "to_pay": money_text(ln.to_pay),
            }
            for ln in quote.lines
        ],
        "benefits": [
            {
                "kind": b.kind,
                "source": b.source,
                "text": b.explanation,
                # Empty for a benefit of points (a promotion's bonus points or
                # multiplier): it takes no money off.
                "amount": money_text(b.amount) if b.amount else "",
                "points": b.points,
            }
            for b in quote.benefits
        ],
        "total": money_text(quote.total),
        "discount_total": money_text(quote.discount_total),
        "points_money": money_text(quote.points_money),
        "to_pay": money_text(quote.amount_to_pay),
        "points_to_earn": quote.points_to_earn,
        "earn_text": quote.earn_explanation,
        "points_available": points_text(quote.points_available),
        "points_max": points_text(quote.points_max),
        "points_used": quote.points_used,
        "tier": quote.tier,
        "first_visit": quote.first_visit,
        "near_misses": [{"name": n, "missing": m} for n, m in quote.near_misses],
    }


def checkout_done_view(request, visit_id: int):
    """What was recorded: the breakdown, points earned, a tier reached."""
    if not request.user.has_perm(CHECKOUT_PERMISSION):
        raise PermissionDenied
    visit = get_object_or_404(
        Visit.objects.select_related("member", "location"), pk=visit_id
    )
    if visit.member_id is None:  # anonymous: nothing earned, the visit says all
        return HttpResponseRedirect(
            reverse("admin:members_visit_change", args=[visit.pk])
        )
    entries = list(LedgerEntry.objects.filter(visit=visit).order_by("seq"))
    upgrade = (
        TierChange.objects.filter(visit=visit, reason=TierChange.Reason.UPGRADE)
        .select_related("to_tier")
        .first()
    )
    context = {
        **admin.site.each_context(request),
        "title": _("Visit recorded"),
        "visit": visit,
        "again": bool(request.GET.get("again")),
        "visit_lines": list(visit.lines.select_related("service")),
        "benefits": [
            (b, benefit_text(b.reason, b.params), money_text(b.amount))
            for b in VisitBenefit.objects.filter(visit=visit)
        ],
        "total": money_text(visit.total),
        "paid": money_text(visit.amount_paid),
        "entries": [(e, entry_text(e)) for e in entries],
        "earned": sum(e.amount for e in entries if e.kind == LedgerEntry.Kind.EARN),
        "upgrade": upgrade,
        "summary": selectors.points_summary(member=visit.member),
        "member_url": reverse("admin:members_member_change", args=[visit.member_id]),
        "visit_url": reverse("admin:members_visit_change", args=[visit.pk]),
        "next_url": reverse("admin:rewards_checkout"),
        "app_name": apps.get_app_config("rewards").verbose_name,
    }
    return TemplateResponse(request, "admin/rewards/checkout_done.html", context)


# --- Wiring into the admin site ---------------------------------------------


def install(site: admin.AdminSite) -> None:
    """Add the checkout's URLs to ``site`` and a "Checkout" row to its rewards app.

    The default admin site is a shared instance configured by settings we do
    not own here, so the two hooks wrap its methods rather than subclass it.
    """
    site_urls = site.get_urls
    site_app_list = site.get_app_list

    def get_urls():
        return [
            path(
                "rewards/checkout/",
                site.admin_view(checkout_view),
                name="rewards_checkout",
            ),
            path(
                "rewards/checkout/done/<int:visit_id>/",
                site.admin_view(checkout_done_view),
                name="rewards_checkout_done",
            ),
            *site_urls(),
        ]

    def get_app_list(request, app_label=None):
        app_list = site_app_list(request, app_label)
        if not request.user.has_perm(CHECKOUT_PERMISSION):
            return app_list
        for app in app_list:
            if app["app_label"] == "rewards":
                app["models"].insert(
                    0,
                    {
                        "model": None,
                        "name": _("Checkout"),
                        "object_name": "Checkout",
                        "perms": {"view": True},
                        "admin_url": reverse("admin:rewards_checkout"),
                        "add_url": None,
                        "view_only": True,
                    },
                )
        return app_list

    site.get_urls = get_urls
    site.get_app_list = get_app_list


install(admin.site)
