"""County registry endpoints: browse counties and provinces, import official lists, villages."""
from flask.views import MethodView

from marketplace.accounts.auth import requires
from marketplace.extensions import Blueprint
from marketplace.geo import county_import, services
from marketplace.geo.schemas import (
    CountyImportFile,
    CountyImportIn,
    CountyImportOut,
    CountyListArgs,
    CountyOut,
    CountyPageOut,
    ProvinceOut,
    VillageIn,
    VillageOut,
)

bp = Blueprint("geo", __name__, url_prefix="/api/v1", description="Provinces, counties and villages")


@bp.route("/counties")
class Counties(MethodView):
    @bp.arguments(CountyListArgs(), location="query")
    @bp.response(200, CountyPageOut)
    def get(self, args):
        """List counties, filtered by province, poverty/demonstration flags or name"""
        return services.list_counties(
            province=args["province"], poverty=args["poverty"], demonstration=args["demonstration"],
            name_contains=args["q"], page=args["page"], per_page=args["per_page"],
        )


@bp.route("/counties/<adcode>")
class CountyDetail(MethodView):
    @bp.response(200, CountyOut)
    def get(self, adcode):
        """One county by its 6-digit code"""
        return services.get_county(adcode)


@bp.route("/provinces")
class Provinces(MethodView):
    @bp.response(200, ProvinceOut(many=True))
    def get(self):
        """Provinces that have counties in the registry"""
        return services.list_provinces()


@bp.route("/counties/imports")
class CountyImports(MethodView):
    @requires("admin")
    @bp.arguments(CountyImportIn(), location="form")
    @bp.arguments(CountyImportFile(), location="files")
    @bp.response(200, CountyImportOut)
    def post(self, options, files):
        """Import an official county list (CSV upload; administrators)"""
        raw = files["file"].read()
        return county_import.import_counties(raw, options["kind"], skip_bad_rows=options["skip_bad_rows"]).as_dict()


@bp.route("/counties/<adcode>/villages")
class Villages(MethodView):
    @bp.response(200, VillageOut(many=True))
    def get(self, adcode):
        """Villages of a county"""
        return services.list_villages(adcode)

    @requires("admin")
    @bp.arguments(VillageIn())
    @bp.response(201, VillageOut)
    def post(self, fields, adcode):
        """Add a village to a county (administrators)"""
        return services.add_village(adcode, fields["name"])
