"""My orders (/orders): the buyer's checkouts and their orders, each order's timeline (every move,
with carrier and tracking number, and every refund), cancelling what may still be cancelled (a
paid order before shipping is refunded) and confirming receipt."""
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from marketplace.claims import services as claims
from marketplace.errors import AppError
from marketplace.flows.cancellation import cancel_order
from marketplace.orders import services as orders
from marketplace.orders.errors import OrderErrorCode
from marketplace.orders.lifecycle import MOVES, OrderStatus
from marketplace.payments.refunds import refunds_of
from marketplace.reports.charts import yuan as _yuan  # the pages' one way of showing fen as yuan
from marketplace.web.buy_forms import PAYMENT_METHOD_LABELS, ButtonForm
from marketplace.web.claim_forms import STATUS_LABELS as CLAIM_STATUS_LABELS
from marketplace.web.claims import claims_by_line
from marketplace.web.session import error_page, people_page

bp = Blueprint("my_orders", __name__)

ORDERS_PER_PAGE = 50
LAST_PAGE = 1000
CANCELLABLE = MOVES["cancel"][0]


def _event_words() -> dict[str, str]:
    """An order's moves, as the buyer reads them in its timeline."""
    return {"place": _("Ordered"), "pay": _("Paid"), "pay_late": _("Paid after the deadline"),
            "expire": _("Expired unpaid"), "cancel": _("Cancelled"), "ship": _("Shipped"),
            "arrive": _("Arrived at the service station"), "hand_over": _("Handed over at the station"),
            "confirm_receipt": _("Received"), "complete": _("Completed")}


def _refund_words() -> dict[str, str]:
    return {"pending": _("Refund of ¥%(yuan)s on its way"), "succeeded": _("Refunded ¥%(yuan)s"),
            "failed": _("Refund of ¥%(yuan)s failed; we are looking into it")}


@dataclass
class TimelineEntry:
    at: datetime
    kind: str  # an order move (OrderEvent.action) or "refund"
    words: str
    detail: str | None = None


def _timeline(order, refunds) -> list[TimelineEntry]:
    words = _event_words()
    entries = [TimelineEntry(event.created_at, event.action, words.get(event.action, event.action),
                             f"{order.carrier} {order.tracking_number}" if event.action == "ship" and order.carrier
                             else None)
               for event in order.events]
    refund_words = _refund_words()
    entries += [TimelineEntry(refund.confirmed_at or refund.created_at, "refund",
                              refund_words.get(refund.status, refund_words["pending"]) % {"yuan": _yuan(refund.amount_fen)})
                for refund in refunds]
    return sorted(entries, key=lambda entry: entry.at)


def _bought(order_id: int, user):
    """One order the user bought (or a partner placed for them), else None."""
    try:
        order = orders.get_order(order_id, user)
    except AppError:
        return None
    return order if user.id in (order.buyer_user_id, order.checkout.placed_by_user_id) else None


@bp.get("/orders", endpoint="list")
@people_page("buyer")
def list_checkouts(user):
    number = min(max(request.args.get("page", 1, type=int) or 1, 1), LAST_PAGE)
    page = orders.list_orders(user, view="bought", page=number, per_page=ORDERS_PER_PAGE)
    checkouts = {}
    for order in page.items:  # newest first: their checkouts in the same order
        checkouts.setdefault(order.checkout_id, (order.checkout, []))[1].append(order)
    more = page.total > number * ORDERS_PER_PAGE
    return render_template("pages/buy/orders.html", checkouts=list(checkouts.values()), page=number, more=more,
                           payment_labels=PAYMENT_METHOD_LABELS)


def _order_page(user, order, status=200):
    its_claims = claims.claims_of_order(order.id, user)
    return render_template("pages/buy/order.html", order=order, timeline=_timeline(order, refunds_of(order.id, user)),
                           line_claims=claims_by_line(its_claims), claimable=claims.claimable_lines(order, its_claims),
                           claim_status_words=CLAIM_STATUS_LABELS,
                           can_cancel=order.status in CANCELLABLE,
                           can_confirm=order.status == OrderStatus.SHIPPED and order.delivery_kind == "address",
                           button=ButtonForm()), status


@bp.get("/orders/<id:order_id>", endpoint="show")
@people_page("buyer")
def show(user, order_id):
    order = _bought(order_id, user)
    if order is None:
        return error_page(404, _("No such order of yours."), OrderErrorCode.ORDER_NOT_FOUND)
    return _order_page(user, order)


def _refused(error: AppError) -> str:
    if error.code == OrderErrorCode.ILLEGAL_TRANSITION:
        return _("The order has moved on meanwhile; nothing was changed. Its state is shown below.")
    return _("This cannot be done with this order.")


# The buttons' URLs also answer GET (with the order): a button pressed after the sign-in ran out
# comes back here by GET once the buyer has logged in again.
@bp.route("/orders/<id:order_id>/<any(cancel, confirm):action>", methods=["GET", "POST"])
@people_page("buyer")
def move(user, order_id, action):
    order = _bought(order_id, user)
    if order is None:
        return error_page(404, _("No such order of yours."), OrderErrorCode.ORDER_NOT_FOUND)
    if request.method == "POST" and ButtonForm().validate():
        try:
            if action == "cancel":
                cancel_order(order_id, user, note="cancelled by the buyer")
            else:
                orders.move_order(order_id, "confirm_receipt", user)
        except AppError as error:
            flash(_refused(error), "error")
            return _order_page(user, orders.get_order(order_id, user), error.status)
        flash(_("Cancelled. If you had paid, the money goes back to you.") if action == "cancel"
              else _("Thank you for confirming."), "notice")
    return redirect(url_for("my_orders.show", order_id=order_id))
