"""The network a request came from, as a keyed HMAC: never the address, never the network itself.

Registrations are counted per network (an IPv4 /24, an IPv6 /64) to see a burst
from one place. The HMAC key is derived from the keyring's index root for its
own purpose, so the digest cannot be compared with any blind index, and without
the keys it cannot be tested against guessed networks (docs/decisions/0022).
"""
import hashlib
import hmac
import ipaddress

from .keyring import derive_key

PURPOSE = "muster:netidx:v1"
DIGEST_CHARS = 32  # 128 bits: counting needs no truncation, and the value is keyed


def network_of(address):
    """(network text, kind) of a client address: its /24 (IPv4) or /64 (IPv6); (None, None) if unusable."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None, None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 4:
        return str(ipaddress.ip_network(f"{ip}/24", strict=False)), "ipv4/24"
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)), "ipv6/64"


def digest(keyring, network, key_id=None):
    """The keyed HMAC of ``network`` under one key generation (hex, DIGEST_CHARS long)."""
    key_id = keyring.active_id if key_id is None else key_id
    key = derive_key(keyring.get(key_id).idx_root, PURPOSE)
    return hmac.new(key, network.encode("ascii"), hashlib.sha256).hexdigest()[:DIGEST_CHARS]
