"""``safe_next``: the only place that decides where a ``next=`` redirect may go."""
import re
from urllib.parse import unquote, urlsplit

NEXT_MAX = 512
# A local path and an optional query, in plain URL characters only (no backslash,
# no whitespace or control characters, no scheme).
_SAFE = re.compile(r"^/(?![/\\])[A-Za-z0-9\-._~/?=&%+,;!$'()*]*$")


def safe_next(url):
    """Return ``url`` if it is a path on this site, else None.

    Browsers forgive a lot (``/\\evil``, ``/%09/evil``, ``https:evil`` and
    ``\\\\evil`` all leave the site in some of them), so instead of recognising
    bad URLs this accepts only one shape: ``/path?query`` whose percent-decoded
    form still starts with a single ``/`` and holds only printable ASCII: no
    backslash, whitespace, control or look-alike character, ``@`` or scheme.
    """
    if not isinstance(url, str) or not url or len(url) > NEXT_MAX:
        return None
    if not _SAFE.match(url):
        return None
    decoded = url
    for _ in range(3):  # double and triple encodings decode to the same checks
        decoded = unquote(decoded)
    if decoded.startswith(("//", "/\\")) or "\\" in decoded:
        return None
    if any(not 0x21 <= ord(ch) < 0x7F or ch == "@" for ch in decoded):
        return None  # our paths are plain ASCII; anything else is someone's trick
    parts = urlsplit(decoded)
    if parts.scheme or parts.netloc:
        return None
    if ":" in decoded.split("?", 1)[0].split("/", 2)[1]:
        return None  # "/javascript:..." is harmless, but nothing of ours looks like it
    return url
