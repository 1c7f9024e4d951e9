"""Cancelling an order before shipping: the order's move (stock back) and, if it was paid, the
refund of what it has not given back yet, recorded in the same transaction."""
from marketplace.accounts.services import User
from marketplace.orders import services as orders
from marketplace.orders.services import Order
from marketplace.payments import refunds


def cancel_order(order_id: int, actor: User, *, note: str | None = None) -> Order:
    """Cancel an order before shipping; stock returns, and a paid order's money goes back."""
    created: list[refunds.Refund] = []

    def refund_if_paid(order: Order) -> None:
        refund = refunds.refund_the_rest(order, "Order cancelled" + (f": {note}" if note else "."),
                                         requested_by=actor.id)
        if refund is not None:
            created.append(refund)

    order = orders.move_order(order_id, "cancel", actor, note=note, before_commit=refund_if_paid)
    refunds.submit_refunds_quietly([refund.id for refund in created])
    return order
