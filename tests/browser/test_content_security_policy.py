"""The pages whose policy lets in something inline (the dashboard's chart styles by a nonce, the API
docs' start-up script by its hash) work in a real browser under it, and the browser refuses nothing.
The card page, whose policy adds Stripe.js's server, is paid through in test_buyer_journey."""
from marketplace.reports import charts, rollup


def test_the_dashboards_charts_are_styled_and_the_api_docs_start_under_their_policies(chromium, live_server, build,
                                                                                       session, log_in):
    build.county("652927", "乌什县", is_national_poverty_county=True, is_demonstration_county=True)
    build.pay(build.checkout(products=[build.product(build.user("seller", county="652927"), price_fen=1250)]))
    rollup.roll_up_all()
    admin = build.user("admin")
    session.commit()
    context = chromium.new_context(base_url=live_server.url)  # with JavaScript, for the docs page
    tab = context.new_page()
    console = []
    tab.on("console", lambda message: console.append(message.text))

    log_in(tab, admin)
    tab.goto("/admin/reports?preset=today", wait_until="networkidle")
    poverty_fill = tab.evaluate("() => getComputedStyle(document.querySelector('figure.chart svg .color-0 rect')).fill")
    tab.goto("/api/docs", wait_until="networkidle")
    operations = tab.locator(".opblock").count()
    context.close()

    red, green, blue = (int(charts.POVERTY_COLOUR[i:i + 2], 16) for i in (1, 3, 5))
    assert poverty_fill == f"rgb({red}, {green}, {blue})"  # pygal's style element applied
    assert operations > 50  # Swagger UI started and drew the API
    assert not [text for text in console if "Content Security Policy" in text], console
