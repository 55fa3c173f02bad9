"""Results arithmetic: published intervals, t quantiles, a campaign by hand."""

import math
from decimal import Decimal

import pytest
from django.utils.functional import Promise

from campaigns import stats
from campaigns.stats import Arm, campaign_result, program_result

D = Decimal


# Newcombe (1998), Statistics in Medicine 17:873–890, Table II, method 10
# (hybrid score, no continuity correction): (x1, n1, x2, n2, diff, low, high).
NEWCOMBE_TABLE = [
    (56, 70, 48, 80, 0.2000, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.6000, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.5714, 0.0582, 0.8062),
    (5, 56, 0, 29, 0.0893, -0.0381, 0.1926),
    (0, 10, 0, 20, 0.0000, -0.1611, 0.2775),
    (10, 10, 0, 20, 1.0000, 0.6791, 1.0000),
]


@pytest.mark.parametrize("x1, n1, x2, n2, diff, low, high", NEWCOMBE_TABLE)
def test_newcombe_published_examples(x1, n1, x2, n2, diff, low, high):
    got = stats.newcombe_diff(x1, n1, x2, n2)
    assert [round(v, 4) for v in got] == [diff, low, high]


@pytest.mark.parametrize(
    "x, n, low, high",
    # Newcombe (1998), "Two-sided confidence intervals for the single
    # proportion", Statistics in Medicine 17:857–872, Table I, method 3.
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611)],
)
def test_wilson_published_examples(x, n, low, high):
    assert [round(v, 4) for v in stats.wilson(x, n)] == [low, high]


def test_wilson_refuses_nonsense():
    for x, n in ((0, 0), (-1, 10), (11, 10)):
        with pytest.raises(ValueError):
            stats.wilson(x, n)


@pytest.mark.parametrize(
    "df, quantile",
    [
        (1, 12.7062),
        (2, 4.3027),
        (5, 2.5706),
        (10, 2.2281),
        (30, 2.0423),
        (1000, 1.9623),
        (10**9, 1.9600),
        (math.inf, 1.9600),
    ],
)
def test_t_quantiles_of_the_tables(df, quantile):
    assert round(stats.t_quantile(0.975, df), 4) == quantile


@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.995, 0.9995, 0.05, 0.001])
def test_t_quantile_closed_forms(p):
    # df = 1 is the Cauchy distribution: tan(π(p − ½));
    # df = 2 has t = (2p − 1) / √(2p(1 − p)).
    assert stats.t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)))
    exact2 = (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    assert stats.t_quantile(p, 2) == pytest.approx(exact2, abs=1e-9)


@pytest.mark.parametrize("df", [0.5, 1, 3.7, 12, 250.5, 1e4, 2e5, 5e6])
def test_t_quantile_inverts_the_cdf(df):
    for p in (0.001, 0.1, 0.5, 0.8, 0.975):
        assert stats.t_cdf(stats.t_quantile(p, df), df) == pytest.approx(p, abs=1e-9)
    # More precise digits, known from R's qt(): qt(0.975, 10) = 2.228138852.
    assert stats.t_quantile(0.975, 10) == pytest.approx(2.228138852, abs=1e-8)
    assert stats.t_quantile(0.975, 1e7) == pytest.approx(1.959964, abs=1e-6)


def test_summary_and_sums_agree():
    values = [D("0"), D("0"), D("1500.00"), D("2500.50"), D("0")]
    by_values = stats.summary(values)
    squares = sum(v * v for v in values)
    assert by_values == stats.from_sums(5, sum(values), squares)
    assert by_values.n == 5
    assert by_values.mean == D("800.1")  # 4000.50 / 5
    # Σx² − (Σx)²/n = 8502500.25 − 4000.50²/5 = 8502500.25 − 3200800.05
    # = 5301700.20; ÷ (n − 1) = 4 → 1325425.05
    assert by_values.variance == D("1325425.05")
    assert stats.summary([1, 2, 3, 4]).variance == D(5) / D(3)
    assert stats.from_sums(0, None, None) == (0, D(0), D(0))
    assert stats.from_sums(1, D(7), D(49)) == (1, D(7), D(0))
    with pytest.raises(ValueError):
        stats.from_sums(2, D(10), D(1))  # Σx² < (Σx)²/n is impossible


def test_welch_interval():
    # Means 10 and 8, variances 4 and 9, 10 and 15 values:
    # se² = 0.4 + 0.6 = 1; df = 1 / (0.16/9 + 0.36/14) = 22.98…;
    # t(0.975; 22.98) = 2.0687 → 2 ± 2.0687.
    diff, low, high, df = stats.welch_diff(10, 4, 10, 8, 9, 15)
    assert diff == 2
    assert df == pytest.approx(1 / (0.16 / 9 + 0.36 / 14))
    assert (low, high) == pytest.approx((2 - 2.0687, 2 + 2.0687), abs=1e-4)
    assert stats.welch_diff(5, 0, 3, 5, 0, 4) == (0, 0, 0, 5)
    with pytest.raises(ValueError):
        stats.welch_diff(1, 1, 1, 1, 1, 5)


def two_arms(t_targeted=1000, t_converted=150, c_targeted=1000, c_converted=100):
    """Every converted member spent 2000.00; everybody else nothing."""
    return (
        Arm(
            targeted=t_targeted,
            sent=t_targeted,
            delivered=t_targeted - 20,
            redeemed=120,
            converted=t_converted,
            revenue_total=D(2000) * t_converted,
            revenue_sum_squares=D(2000) ** 2 * t_converted,
        ),
        Arm(
            targeted=c_targeted,
            converted=c_converted,
            revenue_total=D(2000) * c_converted,
            revenue_sum_squares=D(2000) ** 2 * c_converted,
        ),
    )


def test_campaign_result_by_hand():
    treatment, control = two_arms()
    result = campaign_result(
        treatment, control, cost_money=D("20000"), gross_margin=D("0.60")
    )
    # Conversion 150/1000 = 0.15 against 100/1000 = 0.10: uplift 0.05.
    assert result.treatment.conversion_rate == D("0.1500")
    assert result.control.conversion_rate == D("0.1000")
    assert result.uplift == D("0.0500")
    # Wald for comparison: 0.05 ± 1.96 √(0.15·0.85/1000 + 0.1·0.9/1000)
    # = 0.05 ± 0.0289; Newcombe's is a hair narrower and shifted: 0.0210…0.0790.
    assert (result.uplift_low, result.uplift_high) == (D("0.0210"), D("0.0790"))
    # Revenue per member 300000/1000 = 300.00 against 200000/1000 = 200.00.
    assert result.treatment.revenue_per_member == D("300.00")
    assert result.control.revenue_per_member == D("200.00")
    assert result.revenue_diff == D("100.00")
    # Variances: (6e8 − 3e5²/1000)/999 = 510510.51 and (4e8 − 2e5²/1000)/999
    # = 360360.36; se = √(510.51 + 360.36) = 29.5105; df = 1940.3;
    # t = 1.96115 → 100 ± 57.88.
    assert result.revenue_df == pytest.approx(1940.32, abs=0.01)
    assert (result.revenue_diff_low, result.revenue_diff_high) == (
        D("42.12"),
        D("157.88"),
    )
    # Incremental revenue = 100.00 × 1000 treated = 100000.00; × 0.60 margin
    # = 60000.00 profit; ÷ 20000.00 cost = ROI 3.
    assert result.incremental_revenue == D("100000.00")
    assert result.incremental_profit == D("60000.00")
    assert result.cost == D("20000.00")
    assert result.roi == D("3.0000")
    assert result.enough_data and result.reason is None
    assert (result.treatment.sent, result.treatment.delivered) == (1000, 980)


def test_money_rounds_once_at_the_end():
    # 3 treated spent 100.00 in all: 33.333… each; 3 control spent 0.
    treatment = Arm(
        targeted=3, converted=1, revenue_total=D(100), revenue_sum_squares=D(10000)
    )
    result = campaign_result(
        treatment,
        Arm(targeted=3),
        cost_money=D("7"),
        gross_margin=D("0.5"),
        min_per_arm=2,
    )
    assert result.revenue_diff == D("33.33")
    assert result.incremental_revenue == D("100.00")  # not 33.33 × 3 = 99.99
    assert result.roi == D("7.1429")  # 50.00 / 7


def test_roi_needs_a_cost():
    result = campaign_result(*two_arms(), cost_money=D(0), gross_margin=D("0.6"))
    assert result.roi is None
    assert result.incremental_revenue == D("100000.00")


@pytest.mark.parametrize("sizes", [(99, 1000), (1000, 99), (50, 50)])
def test_not_enough_members(sizes):
    t_n, c_n = sizes
    result = campaign_result(
        *two_arms(t_n, t_n // 10, c_n, c_n // 10),
        cost_money=D("100"),
        gross_margin=D("0.6"),
    )
    assert not result.enough_data
    assert isinstance(result.reason, Promise)  # translated when shown
    assert str(result.reason) == (
        "Not enough data yet: each group needs at least 100 members."
    )
    # The numbers are still there for a "preliminary" display.
    assert result.uplift is not None and result.incremental_revenue is not None


def test_not_enough_precision():
    # 200 per arm, 15 % vs 10 %: the interval runs from −0.0154 to 0.1157,
    # 13 points wide, more than the 10 allowed.
    result = campaign_result(
        *two_arms(200, 30, 200, 20), cost_money=D("100"), gross_margin=D("0.6")
    )
    assert (result.uplift_low, result.uplift_high) == (D("-0.0154"), D("0.1157"))
    assert not result.enough_data
    assert str(result.reason) == (
        "Not enough data yet: the confidence interval of the conversion uplift"
        " is still wider than 10 percentage points."
    )
    wider = campaign_result(
        *two_arms(200, 30, 200, 20),
        cost_money=D("100"),
        gross_margin=D("0.6"),
        max_width=D("0.15"),
    )
    assert wider.enough_data
    fewer = campaign_result(
        *two_arms(60, 9, 60, 6),
        cost_money=D("100"),
        gross_margin=D("0.6"),
        min_per_arm=50,
        max_width=D("0.5"),
    )
    assert fewer.enough_data
    # 400 per arm: about 9 points wide, over a 7.5-point limit.
    finer = campaign_result(
        *two_arms(400, 60, 400, 40),
        cost_money=D(1),
        gross_margin=D(1),
        max_width=D("0.075"),
    )
    assert str(finer.reason).endswith("wider than 7.5 percentage points.")


def test_empty_arm_gives_nothing_to_compare():
    treatment, _ = two_arms()
    result = campaign_result(
        treatment, Arm(targeted=0), cost_money=D("10"), gross_margin=D("0.5")
    )
    assert result.control.conversion_rate is None
    assert result.control.revenue_per_member is None
    assert result.uplift is result.revenue_diff_low is result.roi is None
    assert result.incremental_revenue is None
    assert not result.enough_data


def test_bad_inputs():
    with pytest.raises(ValueError):
        Arm(targeted=10, converted=11)
    with pytest.raises(ValueError):
        Arm(targeted=-1)
    with pytest.raises(ValueError):
        campaign_result(*two_arms(), cost_money=D(1), gross_margin=D(60))
    with pytest.raises(ValueError):
        campaign_result(*two_arms(), cost_money=D(1), gross_margin=D(1), min_per_arm=1)


def test_program_result_sums_measured_campaigns():
    first = campaign_result(
        *two_arms(), cost_money=D("20000"), gross_margin=D("0.60")
    )  # +100000.00 revenue, +60000.00 profit, cost 20000.00
    second = campaign_result(
        *two_arms(500, 50, 500, 60), cost_money=D("5000"), gross_margin=D("0.50")
    )  # 200.00 − 240.00 = −40.00 × 500 = −20000.00 revenue, −10000.00 profit
    unmeasured = campaign_result(
        two_arms()[0], Arm(targeted=0), cost_money=D("999"), gross_margin=D("0.5")
    )
    program = program_result([first, second, unmeasured])
    # The unmeasured one has no control group, so it is not conclusive either.
    assert (program.campaigns, program.measured, program.conclusive) == (3, 2, 2)
    assert (program.targeted, program.control) == (1500, 1500)
    assert program.incremental_revenue == D("80000.00")
    assert program.incremental_profit == D("50000.00")
    assert program.cost == D("25000.00")
    assert program.roi == D("2.0000")  # 50000 / 25000
    empty = program_result([])
    assert empty.roi is None and empty.incremental_revenue == D("0.00")
