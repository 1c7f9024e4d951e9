"""What each campaign sold: plain SQL over the sales ledger, joined to the campaign its order lines
were sold in (``order_lines.campaign_item_id``, the item's campaign).

A campaign's figures are all its ledger rows, whatever day they fall on (a refund confirmed after
the campaign has ended still takes its money off the campaign), within the report's counties:
net sales (paid goods less refunds and sales excluded by review), units, orders and distinct
buyers with a sale that counts (as the county rollups count them: a sale line counts once, an
exclusion takes it out, an inclusion puts it back), and the national poverty counties' share of
the net. A period lists the campaigns whose window [starts_at, ends_at) overlaps its
Asia/Shanghai days. The ledger is read directly, from the campaign's order lines (their
campaign index) to their orders' ledger rows (the ledger's order index), so these figures are as
fresh as the ledger, with no rollup behind them.
"""
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import text

from marketplace.campaigns import services as campaigns
from marketplace.common.time import BUSINESS_TZ
from marketplace.extensions import db
from marketplace.reports.periods import Period

if TYPE_CHECKING:  # queries.summary lists a Double 11's campaigns from here
    from marketplace.reports.queries import Scope

FIGURES = ("net_fen", "gross_fen", "refunded_fen", "excluded_fen", "units", "orders", "buyers", "poverty_net_fen")

# One row per (campaign, order) first, so that orders and buyers are counted as the rollups count
# them (an order counts while one of its sale lines is counted), then the campaign's sums.
_FIGURES_SQL = """
WITH rows AS (
    SELECT item.campaign_id, ledger.kind, ledger.order_id, ledger.buyer_user_id, ledger.units, ledger.amount_fen,
           CASE WHEN ledger.kind = 'sale' THEN 1 ELSE ledger.count_change END AS counted_lines,
           county.is_national_poverty_county AS poverty
    FROM sales_ledger AS ledger
    JOIN order_lines AS line ON line.order_id = ledger.order_id AND line.id = ledger.order_line_id
    JOIN campaign_items AS item ON item.id = line.campaign_item_id
    JOIN counties AS county ON county.adcode = ledger.origin_county_adcode
    WHERE item.campaign_id = ANY(CAST(:campaign_ids AS integer[]))
      AND (CAST(:county AS varchar) IS NULL OR ledger.origin_county_adcode = :county)
      AND (CAST(:province AS varchar) IS NULL OR county.province_adcode = :province)
), orders AS (
    SELECT campaign_id, order_id, buyer_user_id, sum(counted_lines) AS counted_lines
    FROM rows GROUP BY campaign_id, order_id, buyer_user_id
), money AS (
    SELECT campaign_id,
           sum(amount_fen) AS net_fen,
           coalesce(sum(amount_fen) FILTER (WHERE kind = 'sale'), 0) AS gross_fen,
           -coalesce(sum(amount_fen) FILTER (WHERE kind = 'refund'), 0) AS refunded_fen,
           -coalesce(sum(amount_fen) FILTER (WHERE kind IN ('exclusion', 'inclusion')), 0) AS excluded_fen,
           sum(units) AS units,
           coalesce(sum(amount_fen) FILTER (WHERE poverty), 0) AS poverty_net_fen
    FROM rows GROUP BY campaign_id
), counts AS (
    SELECT campaign_id, count(*) FILTER (WHERE counted_lines > 0) AS orders,
           count(DISTINCT buyer_user_id) FILTER (WHERE counted_lines > 0) AS buyers
    FROM orders GROUP BY campaign_id
)
SELECT money.campaign_id, net_fen, gross_fen, refunded_fen, excluded_fen, units, orders, buyers, poverty_net_fen
FROM money JOIN counts USING (campaign_id)
"""

_LISTINGS_SQL = """
SELECT item.id AS item_id, item.product_id, max(line.title) AS title, item.campaign_price_fen,
       sum(ledger.amount_fen) AS net_fen, sum(ledger.units) AS units,
       count(DISTINCT ledger.order_id) FILTER (WHERE ledger.kind = 'sale') AS orders
FROM sales_ledger AS ledger
JOIN order_lines AS line ON line.order_id = ledger.order_id AND line.id = ledger.order_line_id
JOIN campaign_items AS item ON item.id = line.campaign_item_id
JOIN counties AS county ON county.adcode = ledger.origin_county_adcode
WHERE item.campaign_id = :campaign_id
  AND (CAST(:county AS varchar) IS NULL OR ledger.origin_county_adcode = :county)
  AND (CAST(:province AS varchar) IS NULL OR county.province_adcode = :province)
GROUP BY item.id, item.product_id, item.campaign_price_fen
ORDER BY net_fen DESC, item.id
"""

# Campaigns whose window overlaps [from, to): the period's first and last Asia/Shanghai days, whole.
_OVERLAPPING_SQL = """
SELECT id FROM campaigns WHERE starts_at < :period_ends AND ends_at > :period_starts ORDER BY starts_at, id
"""


def _scope_params(scope: "Scope") -> dict:
    return {"county": scope.county_adcode, "province": scope.province_adcode}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _figures(campaign_ids: list[int], scope: "Scope") -> dict[int, dict]:
    rows = db.session.execute(text(_FIGURES_SQL), {"campaign_ids": campaign_ids, **_scope_params(scope)}).mappings()
    figures = {row["campaign_id"]: {name: int(row[name]) for name in FIGURES} for row in rows}
    empty = dict.fromkeys(FIGURES, 0)
    return {campaign_id: figures.get(campaign_id, empty) for campaign_id in campaign_ids}


def _row(campaign, figures: dict) -> dict:
    return {"campaign_id": campaign.id, "name_zh": campaign.name_zh, "name_en": campaign.name_en,
            "starts_at": campaign.starts_at, "ends_at": campaign.ends_at, "status": campaign.status,
            "poverty_counties_only": campaign.poverty_counties_only,
            **figures, "poverty_share": _share(figures["poverty_net_fen"], figures["net_fen"])}


def _period_bounds(period: Period) -> dict:
    return {"period_starts": datetime.combine(period.first, time(), BUSINESS_TZ),
            "period_ends": datetime.combine(period.last + timedelta(days=1), time(), BUSINESS_TZ)}


def campaigns_in_period(period: Period, scope: "Scope") -> list[dict]:
    """The campaigns whose window overlaps the period, earliest first, each with its figures."""
    scope.check()
    ids = list(db.session.scalars(text(_OVERLAPPING_SQL), _period_bounds(period)))
    figures = _figures(ids, scope)
    return [_row(campaigns.get_campaign(campaign_id), figures[campaign_id]) for campaign_id in ids]


def campaign_report(campaign_id: int, scope: "Scope") -> dict:
    """One campaign's figures, and its listings' (net sales, units, orders), best-selling first."""
    scope.check()
    campaign = campaigns.get_campaign(campaign_id)
    listings = [{**row, "net_fen": int(row["net_fen"]), "units": int(row["units"])} for row in db.session.execute(
        text(_LISTINGS_SQL), {"campaign_id": campaign_id, **_scope_params(scope)}).mappings()]
    return {**_row(campaign, _figures([campaign_id], scope)[campaign_id]), "listings": listings}
