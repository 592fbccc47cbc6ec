"""Seeds: the public one of the visible checks, and hidden ones derived by HMAC."""

from __future__ import annotations

import hashlib
import hmac
import os

from .spec import PUBLIC_SEED

#: Secret of nbgrader's hidden test cells when the course sets none (``CONVLAB_COURSE_SECRET``).
_KERNEL_DEFAULT_SECRET = b"convlab-hidden-tests"


def derive_seed(secret: bytes, *parts: str) -> int:
    """A 63-bit seed from ``HMAC-SHA256(secret, "part1/part2/...")``; never the public seed."""
    digest = hmac.new(secret, "/".join(parts).encode(), hashlib.sha256).digest()
    seed = int.from_bytes(digest[:8], "big") >> 1
    return seed if seed != PUBLIC_SEED else seed + 1


def kernel_hidden_seed(key: str) -> int:
    """The seed of nbgrader's hidden test cell for exercise ``key``."""
    secret = os.environ.get("CONVLAB_COURSE_SECRET", "").encode() or _KERNEL_DEFAULT_SECRET
    return derive_seed(secret, "kernel", key)
