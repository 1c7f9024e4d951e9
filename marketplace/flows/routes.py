"""Endpoints of the cross-domain flows: cancelling an order (with its refund), cash at a station, and the
public trace of a listing or a sold order line."""
from flask.views import MethodView

from marketplace.accounts.auth import current_user, requires
from marketplace.common.metrics import cash_collected
from marketplace.extensions import Blueprint
from marketplace.flows import cancellation, station_cash, trace
from marketplace.flows.schemas import TraceOut
from marketplace.orders.schemas import CheckoutOut, NoteIn, OrderOut
from marketplace.payments.schemas import CashCollectionIn, RefundOut

bp = Blueprint("cancellation_and_cash", __name__, url_prefix="/api/v1",
               description="Cancelling an order (a paid one is refunded); cash taken and paid back at a service station; "
                           "the public trace (溯源) of a listing or a parcel")


@bp.route("/orders/<id:order_id>/cancel")
class OrderCancel(MethodView):
    @requires("buyer", "partner", "admin")
    @bp.arguments(NoteIn())
    @bp.response(200, OrderOut)
    def post(self, fields, order_id):
        """Cancel before shipping; stock returns and a paid order is refunded (the buyer)"""
        return cancellation.cancel_order(order_id, current_user(), note=fields["note"])


@bp.route("/refunds/<id:refund_id>/cash-paid")
class CashRefundPaid(MethodView):
    @requires("partner")
    @bp.response(200, RefundOut)
    def post(self, refund_id):
        """The station paid a cash refund back to the buyer (the station's partner)"""
        return station_cash.record_cash_refund(refund_id, current_user())


@bp.route("/checkouts/<id:checkout_id>/cash-collection")
class CashCollection(MethodView):
    @requires("partner")
    @bp.arguments(CashCollectionIn())
    @bp.response(201, CheckoutOut)
    def post(self, fields, checkout_id):
        """Record the cash taken for a cash-at-station checkout; its orders become paid (the station's partner)"""
        checkout = station_cash.record_cash_collection(checkout_id, current_user(), **fields)
        cash_collected()
        return checkout


@bp.route("/trace/<token>")
class Trace(MethodView):
    @bp.response(200, TraceOut)
    def get(self, token):
        """Where a listing or a parcel comes from (溯源), by the code printed on it; public, no personal data"""
        return trace.read_trace(token)
