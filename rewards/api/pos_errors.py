"""The refusals of the POS checkout (quote and visit), as its OpenAPI
description lists them: one text for both endpoints, beside the codes table
of docs/api.md."""

CHECKOUT_ERRORS = (
    "Errors: `member_required`, `anonymous_with_member` (`anonymous: true` "
    "with a member's id, phone or card), `member_only` (vouchers, promo codes "
    "or points on an anonymous visit, in their field), `invalid_phone`, "
    "`member_not_found` (404), "
    "`member_not_active`, `unknown_service`, "
    "`voucher_not_found` (unknown or another member's), `voucher_not_active` "
    "(used or cancelled), `voucher_expired`, `voucher_duplicate`, "
    "`voucher_service_missing`, `voucher_not_applicable`, "
    "`voucher_not_for_checkout`, "
    "`promo_code_not_found`, `promo_code_expired` (not valid now, or its "
    "promotion is not running), `promo_code_used_up`, `promo_code_not_applicable` "
    "(the promotion's conditions do not hold for this bill; the message says "
    "which), `promo_code_duplicate` (a code twice, or two codes of one "
    "promotion), `promo_code_too_many` (more than 5), `promo_code_locked` (too "
    "many wrong codes for this member within the hour), `promotion_used_up` "
    "(recording only: the promotion's last redemption or budget went to another "
    "visit meanwhile; quote again), all in `fields.promo_codes`; "
    "`points_insufficient`, `points_over_limit`, "
    "`price_reason_required` (a `price` other than the service's without "
    "`price_reason`), `price_beyond_limit` (further from it than the program's "
    "price change limit), `unknown_specialist`, `specialist_not_active`, "
    "`specialist_not_at_location` (a line's `specialist` does not work at the "
    "key's location)."
)
