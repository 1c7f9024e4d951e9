"""Service station endpoints."""
from flask.views import MethodView

from marketplace.accounts.auth import current_user, optional_user, requires
from marketplace.common.schemas import LedgerEntryIn, LedgerPageArgs
from marketplace.extensions import Blueprint
from marketplace.stations import cash, services
from marketplace.stations.schemas import (
    CashEntryOut,
    CashLedgerOut,
    StationIn,
    StationListArgs,
    StationOut,
    StationPageOut,
    StationUpdateIn,
)

bp = Blueprint("stations", __name__, url_prefix="/api/v1", description="Village service stations")


@bp.route("/stations")
class Stations(MethodView):
    @bp.arguments(StationListArgs(), location="query")
    @bp.response(200, StationPageOut)
    def get(self, args):
        """List active service stations (administrators may include inactive ones)"""
        return services.list_stations(viewer=optional_user(), **args)

    @requires("admin")
    @bp.arguments(StationIn())
    @bp.response(201, StationOut)
    def post(self, fields):
        """Open a service station and assign its partner (administrators)"""
        return services.open_station(**fields)


@bp.route("/stations/<id:station_id>")
class StationDetail(MethodView):
    @bp.response(200, StationOut)
    def get(self, station_id):
        """One active service station"""
        return services.get_station(station_id)

    @requires("admin")
    @bp.arguments(StationUpdateIn())
    @bp.response(200, StationOut)
    def patch(self, fields, station_id):
        """Change a station, reassign its partner or close it (administrators)"""
        return services.update_station(station_id, **fields)


@bp.route("/stations/<id:station_id>/cash-ledger")
class StationCashLedger(MethodView):
    @requires("partner", "admin")
    @bp.arguments(LedgerPageArgs(), location="query")
    @bp.response(200, CashLedgerOut)
    def get(self, args, station_id):
        """The station's cash ledger and what it owes the platform (its partner, administrators)"""
        return cash.cash_ledger(station_id, current_user(), **args)


@bp.route("/stations/<id:station_id>/remittances")
class StationRemittances(MethodView):
    @requires("admin")
    @bp.arguments(LedgerEntryIn())
    @bp.response(201, CashEntryOut)
    def post(self, fields, station_id):
        """Record cash the station handed over to the platform (administrators)"""
        return cash.record_remittance(station_id, current_user(), **fields)
