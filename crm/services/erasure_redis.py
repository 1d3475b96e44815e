"""The Redis side of an erasure: rate-limit counters keyed by their email index, and jobs.

Redis never holds a person's values, but two kinds of key still point at them:
rate-limit counters keyed by the blind-index token of an email address
(``...email-<token>/...``), and RQ jobs whose arguments are the ids of their rows
(the contact, its outbox messages, links, requests). Both are deleted; the
erasure job itself is told to leave no result behind (``result_ttl = 0``).
"""
import zlib

from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

# Rate-limit keys hold "<field>-<token>/" (ours: "rights-email-1234/"); these fields count.
INDEXED_FIELDS = ("email", "phone")


def limiter_markers(tokens):
    """Key fragments of rate-limit counters for these (field, key_id, token) index rows."""
    return sorted({f"{field}-{token}/" for field, _key_id, token in tokens if field in INDEXED_FIELDS})


def forget_rate_limits(redis, tokens, prefix):
    """Delete rate-limit counters keyed by any of these index tokens; returns how many."""
    markers = limiter_markers(tokens)
    if not markers:
        return 0
    doomed = [key for key in redis.scan_iter(match=f"*{prefix}*", count=1000)
              if any(marker in key.decode("utf-8", "replace") for marker in markers)]
    if doomed:
        redis.delete(*doomed)
    return len(doomed)


def forget_jobs(redis, related_ids, keep_job_id=None, batch=500):
    """Delete every RQ job whose arguments name one of ``related_ids``; returns how many.

    Each job's stored call (``data``: zlib-compressed JSON) is read in pipelined
    batches and searched for the ids; only a job that names one is loaded and deleted.
    """
    needles = [str(i).encode() for i in related_ids]
    keys = [key for key in redis.scan_iter(match="rq:job:*", count=1000)
            if key.decode("utf-8", "replace")[len("rq:job:"):] != keep_job_id]
    deleted = 0
    for first in range(0, len(keys), batch):
        chunk = keys[first:first + batch]
        pipe = redis.pipeline(transaction=False)
        for key in chunk:
            pipe.type(key)
            pipe.hget(key, "data")
        answers = pipe.execute(raise_on_error=False)
        for key, kind, data in zip(chunk, answers[0::2], answers[1::2]):
            if kind != b"hash" or not isinstance(data, bytes) or not any(n in _call_of(data) for n in needles):
                continue  # a job's side keys (dependents, ...) go with the job
            try:
                Job.fetch(key.decode()[len("rq:job:"):], connection=redis, serializer=JSONSerializer).delete()
                deleted += 1
            except NoSuchJobError:
                continue
    return deleted


def _call_of(data):
    try:
        return zlib.decompress(data)
    except zlib.error:
        return data
