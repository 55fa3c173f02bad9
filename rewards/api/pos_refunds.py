"""The POS's cancel and refund of its own recorded visits: /api/v1/pos/visits/….

A key cancels or refunds only its own location's visits, found by the booking
id it sent (another location's visit is a 404, never a 403 that would reveal
it). Thin views over ``members.services``; the rest of the POS API is ``pos``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from members import services as member_services
from members.api.auth import PosAPIView
from members.api.common import ApiError, error_responses
from members.models import Visit
from rewards import selectors
from rewards.api import pos_serializers as s
from rewards.api.pos import TAGS, fields_renamed, visit_data


def _refund_error(exc: ValidationError) -> Exception:
    """The refund service speaks of its internal ``key``; the POS sent a
    ``refund_id``. Say it in the POS's terms, without the internal key."""
    codes = {
        e.code for errors in getattr(exc, "error_dict", {}).values() for e in errors
    }
    if "refund_key_conflict" in codes:
        message = _("This refund_id was already used for other lines of a visit.")
        return ApiError(
            409,
            "refund_key_conflict",
            message,
            {"refund_id": [{"code": "refund_key_conflict", "message": message}]},
        )
    return fields_renamed(exc, {"key": "refund_id"})


# --- Cancel and refund ------------------------------------------------------------


def _state_data(visit: Visit, refund=None) -> dict:
    """A visit after a cancel or refund, read back from the database."""
    outcome = selectors.visit_outcome(visit=visit)
    return {
        "visit": visit_data(outcome.visit, outcome.lines),
        "points_reversed": outcome.points_reversed,
        "points_returned": outcome.points_returned,
        "refund": refund,
    }


class _OwnVisitView(PosAPIView):
    """A view of one of the key's location's visits."""

    def own_visit(self, external_id: str) -> Visit:
        """The key's location's POS visit with this id; any other is a 404."""
        visit = None
        # PostgreSQL refuses a NUL in a query; it is no booking id anyway.
        if "\x00" not in external_id:
            visit = Visit.objects.filter(
                source=Visit.Source.POS,
                external_id=external_id,
                location=self.location,
            ).first()
        if visit is None:
            raise ApiError(
                404, "visit_not_found", _("No visit with this id at this location.")
            )
        return visit


EXTERNAL_ID = OpenApiParameter(
    "external_id",
    str,
    OpenApiParameter.PATH,
    description="The `external_id` the visit was recorded with.",
)


class VisitCancelView(_OwnVisitView):
    serializer_class = s.PosCancelSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="pos_visit_cancel",
        summary="Cancel a visit",
        description=(
            "For a visit recorded by mistake or that did not take place: it "
            "leaves the member's stats, its points are taken back and the "
            "points paid and vouchers used come back. Cancelling a cancelled "
            "visit answers its state again. A refunded visit: 400 "
            "`visit_not_paid`. Another location's visit: 404."
        ),
        parameters=[EXTERNAL_ID],
        request=s.PosCancelSerializer,
        responses={
            200: s.PosVisitStateSerializer,
            **error_responses(400, 401, 404, 429),
        },
    )
    def post(self, request, external_id: str):
        data = s.PosCancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        visit = member_services.visit_cancel(
            visit=self.own_visit(external_id), reason=data.validated_data["reason"]
        )
        return Response(s.PosVisitStateSerializer(_state_data(visit)).data)


class VisitRefundView(_OwnVisitView):
    serializer_class = s.PosRefundSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="pos_visit_refund",
        summary="Refund a visit, whole or some of its lines",
        description=(
            "Without `lines`: the whole visit (refunding it again answers its "
            "state again; a cancelled visit is a 400 `visit_not_paid`). With "
            "`lines` (`[{line: <visit line id>, quantity}]`) and `refund_id`: "
            "those units only; the same `refund_id` again refunds once, with "
            "other content it is a 409 `refund_key_conflict`. Another "
            "location's visit: 404."
        ),
        parameters=[EXTERNAL_ID],
        request=s.PosRefundSerializer,
        responses={
            200: s.PosVisitStateSerializer,
            **error_responses(400, 401, 404, 409, 429),
        },
    )
    def post(self, request, external_id: str):
        data = s.PosRefundSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        data = data.validated_data
        visit = self.own_visit(external_id)
        if not data.get("lines"):
            visit = member_services.visit_refund(visit=visit, reason=data["reason"])
            return Response(s.PosVisitStateSerializer(_state_data(visit)).data)
        by_id = {ln.pk: ln for ln in visit.lines.all()}
        lines = []
        for item in data["lines"]:
            line = by_id.get(item["line"])
            if line is None:
                raise ValidationError(
                    {
                        "lines": ValidationError(
                            _("Line #%(id)s is not a line of this visit.")
                            % {"id": item["line"]},
                            code="unknown_visit_line",
                        )
                    }
                )
            lines.append((line, item["quantity"]))
        try:
            refund = member_services.visit_refund_partial(
                visit=visit,
                lines=lines,
                # Refund ids are the POS system's: unique per location, not
                # chain-wide.
                key=f"pos:{self.location.pk}:{data['refund_id']}",
                reason=data["reason"],
            )
        except ValidationError as exc:
            raise _refund_error(exc) from exc
        refund_body = {
            "id": refund.pk,
            "amount": refund.amount,
            "lines": refund.lines,
            "created_at": refund.created_at,
        }
        return Response(s.PosVisitStateSerializer(_state_data(visit, refund_body)).data)
