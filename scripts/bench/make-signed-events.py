#!/usr/bin/env python3
"""Pre-signs N distinct Stripe events for the ingress benchmark.

Writes one line per event: "<event id> <Stripe-Signature value>". The body of event <id> is
PREFIX + id + SUFFIX (see webhook.lua, which rebuilds it the same way), padded to SIZE bytes.
All signatures share one timestamp (now), so a run must start within Stripe's 300 s tolerance.
usage: make-signed-events.py COUNT SECRET OUT [SIZE]
"""
import hashlib
import hmac
import sys
import time

PREFIX = '{"id":"'
# The rest of a realistic Stripe event after the id; padded in the middle to reach SIZE.
SUFFIX_HEAD = ('","object":"event","type":"payment_intent.succeeded","api_version":"2024-06-20",'
               '"created":1700000000,"livemode":false,"data":{"object":{"id":"pi_3Nx","object":"payment_intent",'
               '"amount":2000,"currency":"usd","metadata":{"tenant_id":"bench"},"description":"')
SUFFIX_TAIL = '"}}}'


def suffix_for(size, id_len):
    pad = size - len(PREFIX) - id_len - len(SUFFIX_HEAD) - len(SUFFIX_TAIL)
    return SUFFIX_HEAD + "x" * max(0, pad) + SUFFIX_TAIL


def main():
    count, secret, out = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 1024
    run = "%08x" % (int(time.time() * 1000) & 0xFFFFFFFF)
    t = int(time.time())
    id_len = len("evt_%s_%010d" % (run, 0))
    suffix = suffix_for(size, id_len)
    with open(out, "w") as f:
        f.write("%s\n" % suffix)  # first line: the body suffix, shared by every event
        for i in range(count):
            event_id = "evt_%s_%010d" % (run, i)
            body = (PREFIX + event_id + suffix).encode()
            mac = hmac.new(secret, b"%d." % t + body, hashlib.sha256).hexdigest()
            f.write("%s t=%d,v1=%s\n" % (event_id, t, mac))


if __name__ == "__main__":
    main()
