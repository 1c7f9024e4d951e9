"""Browser pages: a landing page and cookie-session login with CSRF-protected forms."""
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from marketplace.accounts import services as accounts
from marketplace.errors import AppError
from marketplace.extensions import limiter

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static")


def _signed_in_user():
    user_id = session.get("user_id")
    if user_id is None:
        return None
    try:
        user = accounts.get_user(user_id)
    except AppError:
        return None
    return user if user.is_active else None


@bp.get("/")
def home():
    return render_template("home.html", user=_signed_in_user())


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    error = None
    identifier = request.form.get("identifier", "").strip()
    if request.method == "POST":
        try:
            user = accounts.authenticate_password(identifier, request.form.get("password", ""))
        except AppError as exc:
            error = exc.message
        else:
            session.clear()
            session["user_id"] = user.id
            return redirect(url_for("web.home"))
    return render_template("login.html", error=error, identifier=identifier), 401 if error else 200


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("web.home"))
