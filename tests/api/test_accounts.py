"""Registering, logging in and out, and the token lifecycle."""
from datetime import timedelta

from marketplace.accounts.models import ApiToken
from marketplace.common.time import utcnow
from marketplace.extensions import db


def test_registered_buyer_can_log_in_and_read_me(client):
    created = client.post("/api/v1/auth/register", json={"phone": "13912345678", "display_name": "李四", "password": "s3cret-pass"})
    assert created.status_code == 201, created.json
    assert created.json["roles"] == ["buyer"]
    assert "password" not in created.json and "password_hash" not in created.json

    login = client.post("/api/v1/auth/login", json={"identifier": "13912345678", "password": "s3cret-pass"})
    assert login.status_code == 200
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {login.json['token']}"})
    assert me.status_code == 200
    assert me.json["phone"] == "13912345678"


def test_tokens_are_stored_only_as_digests(client, build):
    user = build.user()
    token = build.token(user)
    stored = db.session.scalars(db.select(ApiToken.token_digest)).all()
    assert token not in stored
    assert all(len(digest) == 64 for digest in stored)


def test_logout_revokes_the_token(client, build):
    headers = {"Authorization": f"Bearer {build.token(build.user())}"}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    after = client.get("/api/v1/me", headers=headers)
    assert after.status_code == 401
    assert after.json["error"]["code"] == "invalid_token"


def test_expired_token_is_refused_with_its_own_code(client, build):
    user = build.user()
    headers = {"Authorization": f"Bearer {build.token(user)}"}
    token = db.session.scalars(db.select(ApiToken).where(ApiToken.user_id == user.id)).one()
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "token_expired"
