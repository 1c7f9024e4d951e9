"""Configuration classes; every setting comes from an environment variable."""
import os
from datetime import timedelta
from pathlib import Path

INSTANCE_DIR = Path(os.environ.get("MARKETPLACE_INSTANCE_DIR") or Path(__file__).parent.parent / "instance").resolve()


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def default_database_url() -> str:
    """The embedded PostgreSQL under instance/ (started by `make run`, or
    `python -m marketplace.local_postgres start`)."""
    from marketplace.local_postgres import LocalPostgres

    return LocalPostgres(INSTANCE_DIR / "postgres").url()


class Config:
    """Development defaults: the embedded PostgreSQL unless DATABASE_URL is set, in-memory rate limits."""

    ENV_NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY") or "dev-only-not-secret"
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or default_database_url()
    # A pre-ping costs three round trips per request on psycopg; a connection lost to a database
    # restart instead fails one request with 503 database_unavailable (see errors.py).
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": _env_bool("DB_POOL_PRE_PING", False), "pool_recycle": 1800}
    # A streaming replica of DATABASE_URL for reads that tolerate lag (reports, public catalog
    # reads: common/sql.py read_replica); unset, they read the primary.
    REPLICA_DATABASE_URL = os.environ.get("REPLICA_DATABASE_URL") or None
    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 16 * 1024 * 1024)

    # API and OpenAPI
    API_TITLE = "Rural produce marketplace API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.1.0"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "v1/openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "docs"
    OPENAPI_SWAGGER_UI_URL = "/api/docs/assets/"

    # Accounts
    TOKEN_TTL = timedelta(days=_env_int("TOKEN_TTL_DAYS", 30))
    PASSWORD_HASH_PROFILE = os.environ.get("PASSWORD_HASH_PROFILE", "RFC_9106_LOW_MEMORY")
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    # New accounts per client address, the API's registration and the sign-up page counted together:
    # each costs an argon2id hash, so a flood of them slows every request of the machine.
    REGISTER_RATE_LIMIT = os.environ.get("REGISTER_RATE_LIMIT", "5 per minute;20 per hour")

    # Rate-limit storage: Redis when several app servers run (production requires it), memory otherwise.
    REDIS_URL = os.environ.get("REDIS_URL") or None
    RATELIMIT_STORAGE_URI = REDIS_URL or "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    # Proxy hops in front of the app (load balancer, nginx) whose X-Forwarded-* headers are
    # believed; 0 believes none, so a client cannot forge its address (checked in create_app).
    TRUSTED_PROXIES = os.environ.get("TRUSTED_PROXIES") or "0"
    # Bearer token for /metrics; unset, /metrics answers only the machine itself (loopback).
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None
    # `json` (one JSON object a line, with the request id) or `text` for people at a terminal.
    LOG_FORMAT = os.environ.get("LOG_FORMAT") or "text"

    # Browser sessions
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    WTF_CSRF_TIME_LIMIT = 8 * 3600
    # Forms are checked by the app's own hook (create_app), which asks only requests that change
    # something; Flask-WTF's default hook looks up every GET's view to find it exempt.
    WTF_CSRF_CHECK_DEFAULT = False
    # A sign-in lasts this long; the cookie outlives it (PERMANENT_SESSION_LIFETIME), so a form
    # sent after the sign-in ran out still passes CSRF and its typed fields are kept for after login.
    SIGN_IN_HOURS = _env_int("SIGN_IN_HOURS", 7 * 24)
    # How long a worker keeps a storefront page drawn for visitors not signed in (web/storefront_cache.py).
    STOREFRONT_CACHE_SECONDS = _env_int("STOREFRONT_CACHE_SECONDS", 3)
    PERMANENT_SESSION_LIFETIME = timedelta(days=31)
    # The listing form's body may carry several phone photos; each is checked against the image
    # pipeline's own limit and refused beside the field (larger bodies get the 413 page).
    PAGES_MAX_UPLOAD_BYTES = _env_int("PAGES_MAX_UPLOAD_BYTES", 64 * 1024 * 1024)
    # Photos: decoding is the costliest work a request can ask for. A photo of more pixels is refused
    # from its header, before decoding (the default, 24 MP, is catalog/images.py MAX_PIXELS: a
    # 6000×4000 photo; phone cameras save 12 MP by default); each person may send this many photos
    # a minute, through the API and the listing forms together (keyed by their account).
    IMAGE_MAX_PIXELS = _env_int("IMAGE_MAX_PIXELS", 24_000_000)
    IMAGE_UPLOAD_RATE_LIMIT = os.environ.get("IMAGE_UPLOAD_RATE_LIMIT", "20 per minute")

    # Stripe (payments); unset STRIPE_API_BASE means Stripe itself.
    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY") or None
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET") or None
    STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE") or None
    # The card page's Stripe.js and key. Unset STRIPE_JS_URL means Stripe's own, or the one
    # localstripe serves when STRIPE_API_BASE points at it; localstripe takes any pk_test_ key.
    STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY") or None
    STRIPE_JS_URL = os.environ.get("STRIPE_JS_URL") or None
    STRIPE_TIMEOUT_SECONDS = _env_int("STRIPE_TIMEOUT_SECONDS", 10)  # per call; connecting gets at most 3 s
    STRIPE_MAX_NETWORK_RETRIES = _env_int("STRIPE_MAX_NETWORK_RETRIES", 1)
    STRIPE_WEBHOOK_TOLERANCE_SECONDS = _env_int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300)  # older signatures are refused
    STRIPE_WEBHOOK_MAX_BYTES = _env_int("STRIPE_WEBHOOK_MAX_BYTES", 512 * 1024)
    RECONCILE_WINDOW_HOURS = _env_int("RECONCILE_WINDOW_HOURS", 72)  # how far back reconciliation looks
    RECONCILE_INTERVAL_SECONDS = _env_int("RECONCILE_INTERVAL_SECONDS", 600)  # how often the job asks Stripe
    # Platform commission on each paid order, in basis points (500 = 5 %), rounded half up to the fen.
    PLATFORM_COMMISSION_BPS = _env_int("PLATFORM_COMMISSION_BPS", 500)

    # Orders
    ORDER_PAYMENT_TTL = _env_int("ORDER_PAYMENT_TTL", 30 * 60)  # seconds an unpaid order holds stock
    SHIPPING_FLAT_FEE_FEN = _env_int("SHIPPING_FLAT_FEE_FEN", 800)  # per seller's order
    SHIPPING_FREE_OVER_FEN = _env_int("SHIPPING_FREE_OVER_FEN", 9900)  # goods of one seller reaching this ship free
    ORDER_AUTO_RECEIPT_DAYS = _env_int("ORDER_AUTO_RECEIPT_DAYS", 10)  # address deliveries count as received
    ORDER_AUTO_COMPLETE_DAYS = _env_int("ORDER_AUTO_COMPLETE_DAYS", 7)  # after-sale window after delivery
    IDEMPOTENCY_KEY_TTL_HOURS = _env_int("IDEMPOTENCY_KEY_TTL_HOURS", 48)  # at least 24
    # The jobs worker (procrastinate, marketplace/jobs/tasks.py): the period of the housekeeping
    # jobs and of the rollup's safety net, jobs run at once per worker, retries of the jobs that
    # are retried (waits of BACKOFF**1, **2, ... seconds), how long finished jobs are kept, and how
    # long after a payment its rollup runs (payments in between share that job).
    JOBS_INTERVAL_SECONDS = _env_int("JOBS_INTERVAL_SECONDS", 30)
    JOBS_CONCURRENCY = _env_int("JOBS_CONCURRENCY", 2)
    JOBS_MAX_RETRIES = _env_int("JOBS_MAX_RETRIES", 5)
    JOBS_RETRY_BACKOFF_SECONDS = _env_int("JOBS_RETRY_BACKOFF_SECONDS", 4)
    JOBS_KEEP_FINISHED_HOURS = _env_int("JOBS_KEEP_FINISHED_HOURS", 72)
    ROLLUP_DELAY_SECONDS = _env_int("ROLLUP_DELAY_SECONDS", 2)

    # Claims on delivered order lines (marketplace/claims): how long after delivery (or the hand-over
    # at the station) a claim may be opened; how many days after shipping "not received" may be
    # claimed; how long the seller has to answer, and the buyer to answer an offer, before the job
    # accepts it (the amount asked, or the offer); how often that job runs.
    CLAIM_WINDOW_HOURS = _env_int("CLAIM_WINDOW_HOURS", 48)
    NOT_RECEIVED_AFTER_DAYS = _env_int("NOT_RECEIVED_AFTER_DAYS", 7)
    SELLER_RESPONSE_HOURS = _env_int("SELLER_RESPONSE_HOURS", 48)
    BUYER_RESPONSE_HOURS = _env_int("BUYER_RESPONSE_HOURS", 48)
    CLAIM_DEADLINES_SECONDS = _env_int("CLAIM_DEADLINES_SECONDS", 300)
    # Review of claims over the last CLAIM_REVIEW_DAYS: a seller is flagged when claims accepted /
    # lines delivered exceeds CLAIM_RATE_FLAG percent (with at least CLAIM_RATE_MIN_LINES lines
    # delivered, so one claim on one line is no pattern); a buyer when they opened at least
    # CLAIM_BUYER_FLAG_CLAIMS claims against at least CLAIM_BUYER_FLAG_SELLERS different sellers.
    CLAIM_REVIEW_DAYS = _env_int("CLAIM_REVIEW_DAYS", 90)
    CLAIM_RATE_FLAG = _env_int("CLAIM_RATE_FLAG", 10)
    CLAIM_RATE_MIN_LINES = _env_int("CLAIM_RATE_MIN_LINES", 10)
    CLAIM_BUYER_FLAG_CLAIMS = _env_int("CLAIM_BUYER_FLAG_CLAIMS", 5)
    CLAIM_BUYER_FLAG_SELLERS = _env_int("CLAIM_BUYER_FLAG_SELLERS", 3)

    # Reports: how often the jobs worker recomputes the stored whole-country reports (when they changed)
    REPORT_SNAPSHOT_SECONDS = _env_int("REPORT_SNAPSHOT_SECONDS", 60)

    # Review of poverty-county sales (anomaly flags)
    REVIEW_BUYER_SHARE_PERCENT = _env_int("REVIEW_BUYER_SHARE_PERCENT", 30)  # one buyer's share of a county's sales
    REVIEW_SPIKE_FACTOR = _env_int("REVIEW_SPIKE_FACTOR", 5)  # a day this many times the 28-day average
    REVIEW_MIN_FEN = _env_int("REVIEW_MIN_FEN", 10_000)  # smaller counties and days are not flagged

    # Uploaded photos, always served by the app under /media/ (marketplace/common/storage.py):
    # "local" keeps them in MEDIA_ROOT (one machine); "s3" in a bucket every app node shares.
    MEDIA_STORAGE = (os.environ.get("MEDIA_STORAGE") or "local").strip().lower()
    MEDIA_ROOT = os.environ.get("MEDIA_ROOT") or str(INSTANCE_DIR / "media")
    S3_BUCKET = os.environ.get("S3_BUCKET") or None
    S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL") or None  # unset: AWS S3 itself
    S3_REGION = os.environ.get("S3_REGION") or "us-east-1"
    # Unset: boto3 finds credentials itself (AWS_* variables, an instance or task role).
    S3_ACCESS_KEY_ID = os.environ.get("S3_ACCESS_KEY_ID") or None
    S3_SECRET_ACCESS_KEY = os.environ.get("S3_SECRET_ACCESS_KEY") or None
    # The media sweep deletes files no row names once they are this old: an upload saves its files
    # before its transaction commits, and no upload's transaction lasts anywhere near this long.
    MEDIA_SWEEP_GRACE_HOURS = _env_int("MEDIA_SWEEP_GRACE_HOURS", 24)
    MEDIA_SWEEP_SECONDS = _env_int("MEDIA_SWEEP_SECONDS", 3600)  # how often the jobs worker sweeps

    # Reference data
    COUNTIES_DATA_DIR = os.environ.get("COUNTIES_DATA_DIR") or str(
        Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "counties"
    )


class TestConfig(Config):
    """Tests: the PostgreSQL database named by TEST_DATABASE_URL (scripts/test makes one), cheap
    password hashing."""

    ENV_NAME = "test"
    STOREFRONT_CACHE_SECONDS = 0  # tests that are about the cache set it
    TESTING = True
    SECRET_KEY = "test-secret-key"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL") or None
    REPLICA_DATABASE_URL = None  # the replica's tests set their own
    PASSWORD_HASH_PROFILE = "CHEAPEST"
    RATELIMIT_STORAGE_URI = "memory://"
    # Tests sign their own webhook deliveries; Stripe itself is a localstripe the fixtures start.
    STRIPE_SECRET_KEY = None
    STRIPE_API_BASE = None
    STRIPE_WEBHOOK_SECRET = "whsec_test_marketplace"
    STRIPE_PUBLISHABLE_KEY = "pk_test_marketplace"
    STRIPE_JS_URL = None
    STRIPE_TIMEOUT_SECONDS = 5
    STRIPE_MAX_NETWORK_RETRIES = 0
    MEDIA_STORAGE = "local"  # tests about the S3 backend point the app at the s3_server fixture


class ProductionConfig(Config):
    """Production: SECRET_KEY and DATABASE_URL are required, cookies are Secure."""

    ENV_NAME = "production"
    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or None
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)
    LOG_FORMAT = os.environ.get("LOG_FORMAT") or "json"

    @classmethod
    def check(cls) -> None:
        if not cls.SECRET_KEY:
            raise RuntimeError("SECRET_KEY must be set in production (environment variable).")
        if not cls.SQLALCHEMY_DATABASE_URI:
            raise RuntimeError("DATABASE_URL must be set in production (postgresql+psycopg://user@host/db).")
        # Limits kept in each process's memory are multiplied by the number of workers and
        # machines: production counts them in one Redis.
        if not cls.REDIS_URL:
            raise RuntimeError("REDIS_URL must be set in production (environment variable), e.g. "
                               "redis://redis.internal:6379/0: rate limits are shared by every app server through it.")


CONFIGS = {"development": Config, "test": TestConfig, "production": ProductionConfig}


def config_from_env() -> type[Config]:
    """Pick the config class named by MARKETPLACE_ENV (or FLASK_ENV); development by default."""
    name = os.environ.get("MARKETPLACE_ENV") or os.environ.get("FLASK_ENV") or "development"
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"Unknown MARKETPLACE_ENV {name!r}; use one of {', '.join(CONFIGS)}") from None
