"""The fixed category taxonomy, sale units and listing statuses."""
import enum
from datetime import date, timedelta

from marketplace.common.time import business_day, utcnow


class Category(enum.StrEnum):
    FRUIT = "fruit"
    NUTS = "nuts"
    DRIED_FRUIT = "dried_fruit"
    GRAINS_RICE = "grains_rice"
    VEGETABLES = "vegetables"
    MUSHROOMS = "mushrooms"
    TEA = "tea"
    HONEY = "honey"
    MEAT_EGGS = "meat_eggs"
    TEXTILES_HANDICRAFTS = "textiles_handicrafts"
    OTHER = "other"


CATEGORY_LABELS = {
    Category.FRUIT: ("水果", "Fruit"),
    Category.NUTS: ("坚果", "Nuts"),
    Category.DRIED_FRUIT: ("果干", "Dried fruit"),
    Category.GRAINS_RICE: ("粮油米面", "Grains and rice"),
    Category.VEGETABLES: ("蔬菜", "Vegetables"),
    Category.MUSHROOMS: ("菌菇", "Mushrooms"),
    Category.TEA: ("茶叶", "Tea"),
    Category.HONEY: ("蜂蜜", "Honey"),
    Category.MEAT_EGGS: ("肉禽蛋", "Meat and eggs"),
    Category.TEXTILES_HANDICRAFTS: ("纺织手工", "Textiles and handicrafts"),
    Category.OTHER: ("其他", "Other"),
}


class Unit(enum.StrEnum):
    JIN = "jin"
    KG = "kg"
    BOX = "box"
    BAG = "bag"
    PIECE = "piece"


# Weight units fix the net weight; for the others the seller states it (optional for pieces).
UNIT_GRAMS = {Unit.JIN: 500, Unit.KG: 1000}


class ProductStatus(enum.StrEnum):
    DRAFT = "draft"
    PENDING_REVIEW = "pending_review"
    ACTIVE = "active"
    PAUSED = "paused"
    REJECTED = "rejected"


# Shown, never stored: an active listing with no stock.
SOLD_OUT = "sold_out"

PRICE_FEN_MAX = 10_000_000  # 100,000 yuan for one unit is beyond any village specialty
STOCK_UNITS_MAX = 1_000_000
MAX_IMAGES = 6


EARLIEST_HARVEST_DATE = date(2000, 1, 1)


def latest_harvest_date() -> date:
    """The latest harvest date a listing may give: a year from today (Asia/Shanghai), for produce
    sold ahead of its harvest."""
    return business_day(utcnow()) + timedelta(days=366)
