"""The app runs views and hooks as plain functions (Marketplace.ensure_sync), so it refuses to be
built with a coroutine among them."""
import pytest

from marketplace import synchronous_only


def test_an_async_view_or_hook_is_refused_when_the_app_is_built(app):
    async def view():
        return "never awaited"

    synchronous_only(app)  # the app as built: every view and hook a plain function
    app.view_functions["async_probe"] = view
    try:
        with pytest.raises(RuntimeError, match="coroutine function"):
            synchronous_only(app)
    finally:
        del app.view_functions["async_probe"]
    app.after_request_funcs.setdefault("probe", []).append(view)
    try:
        with pytest.raises(RuntimeError, match="coroutine function"):
            synchronous_only(app)
    finally:
        del app.after_request_funcs["probe"]
