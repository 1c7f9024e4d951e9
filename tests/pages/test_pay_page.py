"""The payment page with localstripe: Stripe.js (localstripe's) turns the card into a token, the form
sends the token, the server pays the checkout's PaymentIntent with it; the checkout's page shows
it paid once Stripe's event is applied. Declines, someone else's checkout, paying twice, and a
checkout that expired while the buyer was on the page."""
import json
import re
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
import stripe
from sqlalchemy import func, select

from marketplace.common.time import utcnow
from marketplace.extensions import db
from marketplace.orders import cart
from marketplace.orders.models import Checkout
from marketplace.payments.models import PaymentIntent
from tests.webhooks import WEBHOOK_PATH, signed_delivery

pytestmark = pytest.mark.usefixtures("stripe_configured")

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"


def card_token(localstripe, number: str) -> str:
    """What Stripe.js's createToken(card) does in the browser (localstripe's takes the publishable key)."""
    body = urllib.parse.urlencode({"card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2030",
                                   "card[cvc]": "123", "key": "pk_test_marketplace"}).encode()
    with urllib.request.urlopen(urllib.request.Request(localstripe.base_url + "/v1/tokens", data=body)) as answer:
        return json.loads(answer.read())["id"]


def deliver_events(client, localstripe, intent_ids: list[str]) -> None:
    """Each event localstripe recorded about these intents, delivered signed to the webhook."""
    sdk = stripe.StripeClient(localstripe.secret_key, base_addresses={"api": localstripe.base_url})
    for event in sdk.v1.events.list(params={"limit": 100}).auto_paging_iter():
        if getattr(event.data.object, "id", None) in intent_ids:
            assert client.post(WEBHOOK_PATH, **signed_delivery(event.to_dict())).status_code == 200


def intents_of(checkout) -> list[str]:
    return list(db.session.scalars(select(PaymentIntent.stripe_id).where(PaymentIntent.checkout_id == checkout.id)
                                   .order_by(PaymentIntent.attempt)))


def pay(browser, checkout, localstripe, number=GOOD_CARD):
    path = f"/checkouts/{checkout.id}/pay"
    return browser.send(path, {"card_token": card_token(localstripe, number)})


def state_of(page: str) -> str:
    return re.search(r'data-state="(\w+)"', page).group(1)


@pytest.fixture
def checkout(build, buyer, session):
    placed = build.checkout(buyer, [build.product(), build.product()])
    session.commit()
    return placed


def test_the_card_page_loads_localstripes_stripe_js_and_the_card_script_only_there(buyer_browser, checkout,
                                                                                   stripe_configured):
    page = buyer_browser.get(f"/checkouts/{checkout.id}/pay").get_data(as_text=True)

    assert f'<script src="{stripe_configured.base_url}/js.stripe.com/v3/"></script>' in page
    assert '/assets/pay.js' in page and 'data-stripe-key="pk_test_marketplace"' in page
    assert "<script" not in buyer_browser.get(f"/checkouts/{checkout.id}").get_data(as_text=True)


def policy(response) -> dict[str, list[str]]:
    return {name: sources for name, *sources in
            (part.split() for part in response.headers["Content-Security-Policy"].split(";"))}


def test_the_card_pages_policy_lets_stripe_js_load_call_its_server_and_frame_the_card_field(
        buyer_browser, checkout, stripe_configured):
    response = buyer_browser.get(f"/checkouts/{checkout.id}/pay")

    directives = policy(response)
    assert directives["script-src"] == ["'self'", stripe_configured.base_url]  # no inline script, no other site
    assert directives["connect-src"] == ["'self'", stripe_configured.base_url]
    assert directives["frame-src"] == ["'self'", stripe_configured.base_url]
    assert directives["frame-ancestors"] == ["'none'"] and directives["style-src"] == ["'self'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    other_page = buyer_browser.get(f"/checkouts/{checkout.id}")
    assert "stripe" not in other_page.headers["Content-Security-Policy"] and "connect-src" not in policy(other_page)


def test_with_stripe_itself_the_card_page_allows_stripes_own_servers(buyer_browser, checkout, app, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", None)

    directives = policy(buyer_browser.get(f"/checkouts/{checkout.id}/pay"))

    assert directives["script-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com"]
    assert directives["connect-src"] == ["'self'", "https://js.stripe.com", "https://api.stripe.com"]
    assert directives["frame-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com",
                                       "https://hooks.stripe.com"]


def test_card_4242_pays_and_the_checkout_page_shows_paid_once_the_webhook_is_applied(
        buyer_browser, checkout, localstripe):
    response = pay(buyer_browser, checkout, localstripe)

    assert response.status_code == 302
    assert response.headers["Location"] == f"/checkouts/{checkout.id}"
    waiting = buyer_browser.get(f"/checkouts/{checkout.id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="3">' in waiting and state_of(waiting) == "payable"

    deliver_events(buyer_browser.client, localstripe, intents_of(checkout))

    paid = buyer_browser.get(f"/checkouts/{checkout.id}").get_data(as_text=True)
    assert state_of(paid) == "paid" and 'http-equiv="refresh"' not in paid
    assert db.session.get(Checkout, checkout.id).status == "paid"


def test_a_declined_card_says_why_and_the_buyer_pays_with_another(buyer_browser, checkout, localstripe):
    declined = pay(buyer_browser, checkout, localstripe, DECLINED_CARD)

    assert declined.status_code == 402
    assert 'id="pay-error"' in declined.get_data(as_text=True)
    assert db.session.get(Checkout, checkout.id).status == "pending_payment"

    again = pay(buyer_browser, checkout, localstripe)
    deliver_events(buyer_browser.client, localstripe, intents_of(checkout))

    assert again.status_code == 302
    assert len(intents_of(checkout)) == 2  # the declined intent was cancelled; a fresh one paid
    assert db.session.get(Checkout, checkout.id).status == "paid"


def test_paying_a_checkout_that_is_not_the_buyers_is_not_found(browser, build, checkout, localstripe):
    stranger = build.user("buyer")
    db.session.commit()
    browser.log_in(stranger)

    assert browser.get(f"/checkouts/{checkout.id}/pay").status_code == 404
    assert browser.get(f"/checkouts/{checkout.id}").status_code == 404
    token = card_token(localstripe, GOOD_CARD)
    hidden = browser.hidden_fields("/cart")
    answer = browser.client.post(f"/checkouts/{checkout.id}/pay", data={**hidden, "card_token": token})
    assert answer.status_code == 404
    assert intents_of(checkout) == []


def test_paying_twice_says_it_is_already_paid_and_charges_once(buyer_browser, checkout, localstripe):
    assert pay(buyer_browser, checkout, localstripe).status_code == 302

    before_the_webhook = pay(buyer_browser, checkout, localstripe)
    assert before_the_webhook.status_code == 409
    assert state_of(before_the_webhook.get_data(as_text=True)) == "paid"

    deliver_events(buyer_browser.client, localstripe, intents_of(checkout))
    after = buyer_browser.get(f"/checkouts/{checkout.id}/pay").get_data(as_text=True)
    assert state_of(after) == "paid" and 'id="already-paid"' in after
    assert pay(buyer_browser, checkout, localstripe).status_code == 409
    assert len(intents_of(checkout)) == 1


def test_sending_the_same_payment_form_twice_pays_once(buyer_browser, checkout, localstripe):
    form = {**buyer_browser.hidden_fields(f"/checkouts/{checkout.id}/pay"),
            "card_token": card_token(localstripe, GOOD_CARD)}

    first = buyer_browser.client.post(f"/checkouts/{checkout.id}/pay", data=form)
    second = buyer_browser.client.post(f"/checkouts/{checkout.id}/pay", data=form)

    assert first.status_code == second.status_code == 302
    assert len(intents_of(checkout)) == 1


def test_a_checkout_that_expired_on_the_payment_page_says_so_and_orders_again(buyer_browser, buyer, checkout,
                                                                             localstripe, session):
    form = {**buyer_browser.hidden_fields(f"/checkouts/{checkout.id}/pay"),
            "card_token": card_token(localstripe, GOOD_CARD)}
    session.execute(Checkout.__table__.update().where(Checkout.id == checkout.id)
                    .values(expires_at=utcnow() - timedelta(minutes=1)))
    session.commit()

    response = buyer_browser.client.post(f"/checkouts/{checkout.id}/pay", data=form)

    assert response.status_code == 409
    assert 'id="expired"' in response.get_data(as_text=True)
    assert intents_of(checkout) == []
    again = buyer_browser.send(f"/checkouts/{checkout.id}/pay", {}, to=f"/checkouts/{checkout.id}/reorder")
    assert again.headers["Location"] == "/cart"
    assert cart.saved_cart(buyer.id) == {line.product_id: line.quantity
                                        for order in checkout.orders for line in order.lines}
    assert {order.status for order in db.session.get(Checkout, checkout.id).orders} == {"cancelled"}


def test_a_card_form_without_a_token_is_refused(buyer_browser, checkout):
    response = buyer_browser.send(f"/checkouts/{checkout.id}/pay", {"card_token": "not-a-token"})

    assert response.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(PaymentIntent)) == 0
