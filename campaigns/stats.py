"""Campaign results against a holdout group: confidence intervals and money.

Two layers:

* Pure statistics on floats — :func:`wilson`, :func:`newcombe_diff`,
  :func:`welch_diff`, :func:`t_quantile`. Square roots and quantiles are
  irrational, so floats are the honest type; inputs may be int/Decimal/float.
* Reporting on Decimals — :func:`campaign_result` and :func:`program_result`:
  money quantized to 0.01 (half-up, ``members.money``), rates and ratios to
  0.0001. Money that feeds other money (revenue per member, incremental
  revenue) is computed exactly in Decimal and rounded once, at the end.

Revenue per member counts every *targeted* member, zeros included for those
without a paid visit in the attribution window, so the database can aggregate
``Count``, ``Sum(x)`` and ``Sum(x * x)`` set-based and :func:`from_sums` turns
them into a mean and a sample variance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from statistics import NormalDist
from typing import NamedTuple

from django.utils.formats import number_format
from django.utils.functional import lazy
from django.utils.translation import ngettext

from members.money import money

Z95 = 1.959964  # standard normal 97.5 % quantile: two-sided 95 %
RATE = Decimal("0.0001")


# --- Student t ------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz).

    Press et al., *Numerical Recipes* (3rd ed., 2007), §6.4, ``betacf``.
    """

    def nonzero(v: float) -> float:
        return v if abs(v) > 1e-300 else 1e-300

    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 / nonzero(1.0 - qab * x / qap)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        # Even then odd step of the fraction (NR eq. 6.4.6).
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 / nonzero(1.0 + aa * d)
            c = nonzero(1.0 + aa / c)
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            return h
    raise ArithmeticError("incomplete beta continued fraction did not converge")


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b), a, b > 0, 0 ≤ x ≤ 1."""
    if not 0.0 <= x <= 1.0:
        raise ValueError("x must lie in [0, 1]")
    if x in (0.0, 1.0):
        return x
    log_front = (
        math.lgamma(a + b)
        - math.lgamma(a)
        - math.lgamma(b)
        + a * math.log(x)
        + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # The fraction converges fast for x < (a+1)/(a+b+2); beyond, use symmetry.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with ``df`` (> 0, not necessarily whole) degrees
    of freedom: the two tails are ½·I_{df/(df+t²)}(df/2, ½) (Abramowitz &
    Stegun 26.7.1, 26.5.27)."""
    if math.isinf(df):
        return NormalDist().cdf(t)
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (the inverse of :func:`t_cdf`).

    Bisection on t over the exact CDF, to a relative 1e-12; beyond 10⁷ degrees
    of freedom (or ``df = inf``) the normal quantile, which then differs by
    under 1e-7. No scipy: ``t_quantile(0.975, 10) = 2.228139``.
    """
    if not 0.0 < p < 1.0:
        raise ValueError("p must lie strictly between 0 and 1")
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if df > 1e7:
        return NormalDist().inv_cdf(p)
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    low, high = 0.0, max(1.0, NormalDist().inv_cdf(p))
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    while high - low > 1e-12 * high:
        middle = (low + high) / 2.0
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


# --- Proportions ----------------------------------------------------------


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (Wilson 1927; Newcombe 1998,
    method 3)::

        centre = (p + z²/2n) / (1 + z²/n)
        half   = z / (1 + z²/n) · √(p(1−p)/n + z²/4n²),   p = successes / n

    Unlike p ± z·√(p(1−p)/n) it stays inside [0, 1] and is not degenerate at
    0 or n successes.
    """
    if n <= 0:
        raise ValueError("a proportion needs n > 0")
    if not 0 <= successes <= n:
        raise ValueError("successes must lie between 0 and n")
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_diff(
    x1: int, n1: int, x2: int, n2: int, z: float = Z95
) -> tuple[float, float, float]:
    """p1 − p2 with Newcombe's hybrid score interval (Newcombe, R. G. (1998)
    "Interval estimation for the difference between independent proportions:
    comparison of eleven methods", *Statistics in Medicine* 17, 873–890,
    method 10). With (l1, u1), (l2, u2) the Wilson intervals of each arm::

        D = p1 − p2
        L = D − √((p1 − l1)² + (u2 − p2)²)
        U = D + √((u1 − p1)² + (p2 − l2)²)

    Returns ``(D, L, U)``; example: 56/70 vs 48/80 → (0.1833, 0.0524, 0.3093).
    """
    p1, p2 = x1 / n1 if n1 else 0.0, x2 / n2 if n2 else 0.0
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    diff = p1 - p2
    low = diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return diff, low, high


# --- Means ----------------------------------------------------------------


class Summary(NamedTuple):
    """A sample's size, mean and unbiased (n − 1) variance, as exact Decimals."""

    n: int
    mean: Decimal
    variance: Decimal


def _decimal(value) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def from_sums(n: int, total, total_of_squares) -> Summary:
    """Mean and sample variance from n, Σx and Σx² (what SQL aggregates give)::

        mean = Σx / n,   variance = (Σx² − (Σx)²/n) / (n − 1)

    Computed in Decimal, so the subtraction does not lose the digits a float
    would for large sums. Variance is 0 for n < 2; ``n = 0`` gives mean 0.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    total, squares = _decimal(total or 0), _decimal(total_of_squares or 0)
    if n == 0:
        return Summary(0, Decimal(0), Decimal(0))
    mean = total / n
    if n < 2:
        return Summary(n, mean, Decimal(0))
    spread = squares - total * total / n
    if spread < 0:
        # Σx² ≥ (Σx)²/n always (Cauchy–Schwarz); below it is only rounding.
        if spread < -abs(squares) * Decimal("1e-20") - Decimal("1e-9"):
            raise ValueError("sum of squares is smaller than (sum)²/n")
        spread = Decimal(0)
    return Summary(n, mean, spread / (n - 1))


def summary(values: Iterable) -> Summary:
    """:func:`from_sums` over the values themselves (int, Decimal or float)."""
    n, total, squares = 0, Decimal(0), Decimal(0)
    for value in values:
        x = _decimal(value)
        n, total, squares = n + 1, total + x, squares + x * x
    return from_sums(n, total, squares)


def welch_diff(
    mean1, var1, n1: int, mean2, var2, n2: int, level: float = 0.95
) -> tuple[float, float, float, float]:
    """mean1 − mean2 with Welch's t interval (Welch 1947), for unequal
    variances::

        se² = v1/n1 + v2/n2
        df  = se⁴ / ((v1/n1)²/(n1 − 1) + (v2/n2)²/(n2 − 1))   (Satterthwaite 1946)
        D ± t(1 − (1 − level)/2; df) · se

    Returns ``(D, low, high, df)``. Both variances 0: the interval is the
    point and df is n1 + n2 − 2.
    """
    if n1 < 2 or n2 < 2:
        raise ValueError("Welch's interval needs at least 2 values per group")
    if not 0.0 < level < 1.0:
        raise ValueError("level must lie strictly between 0 and 1")
    m1, v1, m2, v2 = (float(x) for x in (mean1, var1, mean2, var2))
    if v1 < 0 or v2 < 0:
        raise ValueError("variances must not be negative")
    diff = m1 - m2
    a, b = v1 / n1, v2 / n2
    se2 = a + b
    if se2 == 0:
        return diff, diff, diff, float(n1 + n2 - 2)
    df = se2 * se2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
    half = t_quantile(1.0 - (1.0 - level) / 2.0, df) * math.sqrt(se2)
    return diff, diff - half, diff + half, df


# --- Campaign results -----------------------------------------------------


def _rate(value: float | Decimal) -> Decimal:
    return _decimal(value).quantize(RATE, rounding=ROUND_HALF_UP)


def _money(value: float | Decimal) -> Decimal:
    return money(_decimal(value))


def _too_few(minimum: int) -> str:
    return ngettext(
        "Not enough data yet: each group needs at least %(minimum)d member.",
        "Not enough data yet: each group needs at least %(minimum)d members.",
        minimum,
    ) % {"minimum": minimum}


def _too_wide(points: Decimal) -> str:
    # Formatted when shown: "10" or "7.5" in English, "7,5" in Russian.
    whole = points == points.to_integral_value()
    text = number_format(int(points) if whole else points.normalize(), use_l10n=True)
    return ngettext(
        "Not enough data yet: the confidence interval of the conversion uplift"
        " is still wider than %(points)s percentage point.",
        "Not enough data yet: the confidence interval of the conversion uplift"
        " is still wider than %(points)s percentage points.",
        # Plural form by the whole part: "1.5 points", "7,5 пункта".
        int(points) if whole else 2,
    ) % {"points": text}


# Lazy like gettext_lazy: translated when shown, in the viewer's language.
too_few_reason = lazy(_too_few, str)
too_wide_reason = lazy(_too_wide, str)


@dataclass(frozen=True, kw_only=True)
class Arm:
    """One group of a campaign, as counted in the database.

    ``converted``: members with a paid visit in the attribution window;
    ``revenue_total`` / ``revenue_sum_squares``: Σ and Σ² over the targeted
    members of their revenue in the window (zero for members without a visit).
    """

    targeted: int
    sent: int = 0
    delivered: int = 0
    redeemed: int = 0
    converted: int = 0
    revenue_total: Decimal = Decimal(0)
    revenue_sum_squares: Decimal = Decimal(0)

    def __post_init__(self):
        counts = (self.targeted, self.sent, self.delivered, self.redeemed)
        if min(counts + (self.converted,)) < 0:
            raise ValueError("counts must not be negative")
        if self.converted > self.targeted:
            raise ValueError("more converted members than targeted ones")


@dataclass(frozen=True)
class ArmResult:
    targeted: int
    sent: int
    delivered: int
    redeemed: int
    converted: int
    conversion_rate: Decimal | None  # None when nobody was targeted
    conversion_low: Decimal | None  # Wilson interval at the chosen level
    conversion_high: Decimal | None
    revenue_total: Decimal
    revenue_per_member: Decimal | None


@dataclass(frozen=True)
class CampaignResult:
    """Treatment against control. ``None`` marks what cannot be computed (an
    empty arm; fewer than 2 members for Welch; no cost for ROI)."""

    treatment: ArmResult
    control: ArmResult
    uplift: Decimal | None  # conversion rate, treatment − control
    uplift_low: Decimal | None
    uplift_high: Decimal | None
    revenue_diff: Decimal | None  # revenue per member, treatment − control
    revenue_diff_low: Decimal | None
    revenue_diff_high: Decimal | None
    revenue_df: float | None  # Welch–Satterthwaite degrees of freedom
    incremental_revenue: Decimal | None  # revenue_diff × treatment targeted
    incremental_profit: Decimal | None  # incremental_revenue × gross_margin
    cost: Decimal
    gross_margin: Decimal
    roi: Decimal | None  # incremental_profit ÷ cost; 1 = break-even
    enough_data: bool
    reason: str | None  # lazy translated text when not enough_data


def _arm_result(arm: Arm, z: float) -> tuple[ArmResult, Summary]:
    stats = from_sums(arm.targeted, arm.revenue_total, arm.revenue_sum_squares)
    rate = low = high = per_member = None
    if arm.targeted:
        low, high = wilson(arm.converted, arm.targeted, z)
        rate, low, high = (
            _rate(Decimal(arm.converted) / arm.targeted),
            _rate(low),
            _rate(high),
        )
        per_member = _money(stats.mean)
    result = ArmResult(
        targeted=arm.targeted,
        sent=arm.sent,
        delivered=arm.delivered,
        redeemed=arm.redeemed,
        converted=arm.converted,
        conversion_rate=rate,
        conversion_low=low,
        conversion_high=high,
        revenue_total=_money(arm.revenue_total),
        revenue_per_member=per_member,
    )
    return result, stats


def campaign_result(
    treatment: Arm,
    control: Arm,
    *,
    cost_money: Decimal,
    gross_margin: Decimal,
    min_per_arm: int = 100,
    max_width: Decimal = Decimal("0.10"),
    level: float = 0.95,
) -> CampaignResult:
    """Everything a campaign's results page shows.

    * conversion uplift p_t − p_c with Newcombe's interval (:func:`newcombe_diff`);
    * revenue per member difference with Welch's interval (:func:`welch_diff`);
    * incremental revenue = (rpm_t − rpm_c) × treatment targeted: what the
      treated members spent beyond what they would have without the campaign,
      estimated from the holdout (exact Decimal, rounded once);
    * incremental profit = incremental revenue × ``gross_margin`` (a fraction,
      0.6 for 60 %); ROI = incremental profit ÷ ``cost_money`` (rewards given,
      messages paid): 1.0 means the campaign paid for itself. ROI is computed
      from the rounded incremental profit, so it matches the numbers shown.

    ``enough_data`` is false, with a ``reason``, while either arm has fewer than
    ``min_per_arm`` members or the uplift interval is wider than ``max_width``
    (0.10 = 10 percentage points from end to end).
    """
    if min_per_arm < 2:
        raise ValueError("min_per_arm must be at least 2")
    if not 0 <= gross_margin <= 1:
        raise ValueError("gross_margin is a fraction from 0 to 1")
    z = NormalDist().inv_cdf(1.0 - (1.0 - level) / 2.0)
    t_arm, t_stats = _arm_result(treatment, z)
    c_arm, c_stats = _arm_result(control, z)
    cost = money(cost_money)
    margin = Decimal(gross_margin)

    uplift = uplift_low = uplift_high = width = None
    revenue_diff = revenue_low = revenue_high = df = None
    incremental = profit = roi = None
    if treatment.targeted and control.targeted:
        diff, low, high = newcombe_diff(
            treatment.converted, treatment.targeted, control.converted,
            control.targeted, z,
        )  # fmt: skip
        width = high - low
        uplift, uplift_low, uplift_high = _rate(diff), _rate(low), _rate(high)
        exact_diff = t_stats.mean - c_stats.mean
        revenue_diff = _money(exact_diff)
        incremental = _money(exact_diff * treatment.targeted)
        profit = _money(incremental * margin)
        if cost:
            roi = _rate(profit / cost)
        if treatment.targeted >= 2 and control.targeted >= 2:
            _, low, high, df = welch_diff(
                t_stats.mean, t_stats.variance, t_stats.n,
                c_stats.mean, c_stats.variance, c_stats.n, level,
            )  # fmt: skip
            revenue_low, revenue_high = _money(low), _money(high)

    reason = None
    if min(treatment.targeted, control.targeted) < min_per_arm:
        reason = too_few_reason(min_per_arm)
    elif width is not None and width > float(max_width):
        reason = too_wide_reason(Decimal(max_width) * 100)

    return CampaignResult(
        treatment=t_arm,
        control=c_arm,
        uplift=uplift,
        uplift_low=uplift_low,
        uplift_high=uplift_high,
        revenue_diff=revenue_diff,
        revenue_diff_low=revenue_low,
        revenue_diff_high=revenue_high,
        revenue_df=df,
        incremental_revenue=incremental,
        incremental_profit=profit,
        cost=cost,
        gross_margin=margin,
        roi=roi,
        enough_data=reason is None,
        reason=reason,
    )


@dataclass(frozen=True)
class ProgramResult:
    """Campaigns summed. Money sums cover the *measured* campaigns (those with
    both arms non-empty, i.e. an incremental revenue), so that the cost of a
    campaign without a holdout is not set against revenue nobody measured."""

    campaigns: int
    measured: int
    conclusive: int  # campaigns with enough_data
    targeted: int  # treatment members of the measured campaigns
    control: int  # control members of the measured campaigns
    incremental_revenue: Decimal
    incremental_profit: Decimal
    cost: Decimal
    roi: Decimal | None  # Σ incremental profit ÷ Σ cost


def program_result(results: list[CampaignResult]) -> ProgramResult:
    """Sums across campaigns; ROI overall = Σ incremental profit ÷ Σ cost
    (each campaign's own gross margin already applied)."""
    measured = [r for r in results if r.incremental_revenue is not None]
    revenue = sum((r.incremental_revenue for r in measured), Decimal(0))
    profit = sum((r.incremental_profit for r in measured), Decimal(0))
    cost = sum((r.cost for r in measured), Decimal(0))
    return ProgramResult(
        campaigns=len(results),
        measured=len(measured),
        conclusive=sum(1 for r in results if r.enough_data),
        targeted=sum(r.treatment.targeted for r in measured),
        control=sum(r.control.targeted for r in measured),
        incremental_revenue=money(revenue),
        incremental_profit=money(profit),
        cost=money(cost),
        roi=_rate(profit / cost) if cost else None,
    )
