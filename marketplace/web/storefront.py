"""The buyers' storefront (/, /products): this season's produce and the poverty counties' listings
on the home page, search and filters with cursor paging, and the product page with its
add-to-cart form. Reads go through the catalog's read side (catalog/browse.py), on the read
replica unless the reader can change listings (browse.reads_may_lag); the pages are served through
storefront_cache (the named place of their speed), whose ETags are digests of the page as drawn,
so they always match the body whichever database it was drawn from."""
from datetime import timedelta

from flask import Blueprint, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, SelectChoice, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from marketplace.accounts import services as accounts
from marketplace.catalog import browse
from marketplace.catalog.taxonomy import CATEGORY_LABELS
from marketplace.common.schemas import ID_MAX
from marketplace.common.sql import read_replica
from marketplace.common.time import business_day, utcnow
from marketplace.errors import AppError, ErrorCode
from marketplace.geo import services as geo
from marketplace.web.forms import PageForm, YuanField
from marketplace.web.session import signed_in_user
from marketplace.web.storefront_cache import remember, render_page, storefront_page

bp = Blueprint("shop", __name__)

PER_PAGE = 20
HOME_ITEMS = 6
SEASON_DAYS = 90  # "this season": harvested in the last three months
FEW_LEFT = 10  # at most this many units: "only a few left"
MORE_FROM_SELLER = 4
SORT_LABELS = {"newest": _l("Newest"), "price_asc": _l("Price: low to high"), "price_desc": _l("Price: high to low"),
               "best_selling": _l("Best selling")}
# The query parameters a next-page link carries over (the filters and the sort).
FILTER_KEYS = ("q", "category", "province", "poverty_only", "min_price", "max_price", "sort", "lang")


def _one_of_the_choices(form, field):
    if field.data and field.data not in [choice.value for choice in field.choices]:
        raise ValidationError(_l("Pick one of the choices."))


class ProductFilters(PageForm):
    """The search box, filters and sort of /products, read from the query string."""

    class Meta:
        csrf = False  # a GET form: it changes nothing

    q = StringField(_l("Search"), validators=[Optional(), Length(max=50, message=_l("At most %(max)d characters."))])
    category = SelectField(_l("Kind of product"), validate_choice=False, validators=[_one_of_the_choices])
    province = SelectField(_l("Province"), validate_choice=False, validators=[_one_of_the_choices])
    poverty_only = BooleanField(_l("Only from poverty counties (脱贫县)"))
    min_price = YuanField(_l("Lowest price (yuan)"))
    max_price = YuanField(_l("Highest price (yuan)"))
    sort = SelectField(_l("Sort by"), validate_choice=False, validators=[_one_of_the_choices],
                       choices=[SelectChoice(code, label) for code, label in SORT_LABELS.items()])
    cursor = HiddenField(validators=[Optional(), Length(max=1000)])

    def __init__(self, formdata):
        super().__init__(formdata=formdata)
        english = str(get_locale()) == "en"
        self.category.choices = [SelectChoice("", _l("All kinds"))] + [
            SelectChoice(code.value, en if english else zh) for code, (zh, en) in CATEGORY_LABELS.items()]
        self.province.choices = [SelectChoice("", _l("All provinces"))] + [
            SelectChoice(adcode, name) for adcode, name in _provinces()]

    def validate_max_price(self, field):
        if field.data is not None and self.min_price.data is not None and field.data < self.min_price.data:
            raise ValidationError(_l("The highest price is below the lowest."))

    def browse_args(self) -> dict:
        """What catalog.browse.browse_page takes."""
        return {"q": (self.q.data or "").strip() or None, "category": self.category.data or None,
                "province": self.province.data or None, "poverty_only": bool(self.poverty_only.data),
                "min_price_fen": self.min_price.data, "max_price_fen": self.max_price.data,
                "sort": self.sort.data or "newest", "cursor": self.cursor.data or None}


def _provinces() -> list[tuple[str, str]]:
    return remember("provinces", lambda: [(province.adcode, province.name) for province in geo.list_provinces()])


def _categories() -> list[tuple[str, str]]:
    english = str(get_locale()) == "en"
    return [(code.value, en if english else zh) for code, (zh, en) in CATEGORY_LABELS.items()]


# ---------------------------------------------------------------- home


def _home_listings() -> dict:
    today = business_day(utcnow())
    return {"poverty": browse.browse_page(poverty_only=True, in_stock=True, limit=HOME_ITEMS)["items"],
            "season": browse.in_season(harvested_since=today - timedelta(days=SEASON_DAYS), harvested_by=today,
                                       limit=HOME_ITEMS * 2)}


def _catalog_reads():
    """The block the storefront's reads run in: on the replica for visitors and buyers (the
    reader is loaded from the primary first)."""
    return read_replica(enabled=browse.reads_may_lag(signed_in_user()))


def home_page():
    """/ (web.home): the search box, the kinds of product, the poverty counties' listings first,
    then this season's produce."""
    with _catalog_reads():
        return storefront_page(lambda: render_page("pages/shop/home.html", listings=remember("home", _home_listings),
                                                   categories=_categories(), form=ProductFilters(None)))


# ---------------------------------------------------------------- list


def _next_page_url(cursor: str) -> str:
    kept = {key: request.args[key] for key in FILTER_KEYS if request.args.get(key)}
    return url_for("shop.products", **kept, cursor=cursor)


def _list_page() -> tuple[str, int]:
    form = ProductFilters(request.args)
    if not form.validate():
        return render_page("pages/shop/products.html", 400, form=form, page=None)
    try:
        page = browse.browse_page(limit=PER_PAGE, **form.browse_args())
    except AppError:  # a cursor this listing did not hand out (edited, or of another sort)
        form.cursor.errors = [_("This page link is broken. Start again from the first page.")]
        return render_page("pages/shop/products.html", 400, form=form, page=None)
    next_url = _next_page_url(page["next_cursor"]) if page["next_cursor"] else None
    return render_page("pages/shop/products.html", form=form, page=page, next_url=next_url,
                       first_url=_next_page_url("") if form.cursor.data else None)


@bp.get("/products")
def products():
    with _catalog_reads():
        return storefront_page(_list_page)


# ---------------------------------------------------------------- product


def stock_state(stock_units: int) -> str:
    if stock_units <= 0:
        return "sold_out"
    return "few_left" if stock_units <= FEW_LEFT else "in_stock"


def _product_facts(product_id: int) -> dict | None:
    """The listing, whether its seller is verified, and a few more of the seller's listings."""
    public = browse.public_product(product_id)
    if public is None:
        return None
    product = public[0]
    seller = remember(("seller", product["seller_user_id"]), lambda: _seller_facts(product["seller_user_id"]), slow=True)
    return {"product": product, "seller_verified": seller["verified"],
            "others": [other for other in seller["listings"] if other["id"] != product_id][:MORE_FROM_SELLER]}


def _seller_facts(seller_user_id: int) -> dict:
    """Whether the seller is verified, and their newest listings (slow to change: cached longer)."""
    return {"verified": accounts.is_verified_seller(accounts.get_user(seller_user_id)),
            "listings": browse.browse_page(seller_user_id=seller_user_id, limit=MORE_FROM_SELLER + 1)["items"]}


def _product_page(facts: dict | None) -> tuple[str, int]:
    if facts is None:
        return _not_found()
    return render_page("pages/shop/product.html", **facts, stock=stock_state(facts["product"]["stock_units"]))


def _not_found() -> tuple[str, int]:
    return render_page("pages/error.html", 404, status=404, message=_("There is no such product, or it is not on sale."),
                       code=ErrorCode.NOT_FOUND)


@bp.get("/products/<product_id>")
def product(product_id: str):
    """A listing on sale; anything else (no such id, not a number, beyond the column, not on sale) is 404."""
    number = int(product_id) if product_id.isascii() and product_id.isdigit() and len(product_id) <= 10 else 0
    if not 1 <= number <= ID_MAX:
        return storefront_page(_not_found)
    with _catalog_reads():
        return storefront_page(_product_page, facts=lambda: _product_facts(number))
