"""radload: a RADIUS Access-Request (or Accounting-Request) load generator that is not the bottleneck.

It pre-encodes PAP Access-Requests (Message-Authenticator first, RFC 2869 §5.14; User-Password hidden
as in RFC 2865 §5.2), keeps them flowing over several connected non-blocking UDP sockets watched with
epoll, drains replies until EAGAIN, matches them by (socket, Identifier), checks each Response
Authenticator and reports counts, throughput, latency percentiles and its own CPU time.

Two modes:

* closed loop (default): keep ``--outstanding`` requests in flight for ``--duration`` seconds, which
  measures the peak rate;
* open loop (``--rate R``): send R requests per second whatever the replies, which measures latency
  at a given load (the send schedule never waits for replies, so slow replies cannot hide).

Every packet sent carries a fresh Request Authenticator, so no server can answer it from a duplicate
cache. Each socket uses its 256 Identifiers in strict rotation: an Identifier comes back only 256
requests after its last use on that socket (FreeRADIUS 3 drops a request that reuses the Identifier
of one it has just answered as "conflicting").

With ``--accounting`` it sends Accounting-Requests instead (RFC 2866): streams of sessions, each a
Start, ``--interims`` Interim-Updates and a Stop with a unique Acct-Session-Id, ``--window`` sessions
interleaved; ``--acked-out`` lists every record answered, so that a benchmark can check each one is
in the database.

Traffic goes only to loopback addresses. The run is bounded by ``--duration`` (plus ``--warmup`` and
one ``--timeout`` to drain) and by ``--max-requests``.

Usage::

    radload.py 127.0.0.1:18120 -s testing123 --users 10000 --password pw --duration 10
    radload.py 127.0.0.1:18120 -s testing123 --macs 10000 --rate 5000 --json
    radload.py 127.0.0.1:18120 -s testing123 --credentials creds.csv --single-use
    radload.py 127.0.0.1:18130 -s testing123 --accounting --users 10000 --interims 3 --acked-out acked.bin
    radload.py --selftest
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
from array import array
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from radload_loop import Load, Report
from radpackets import (
    DEFAULT_PATTERN,
    AcctEncoder,
    Credential,
    Encoder,
    RequestOptions,
    acct_stream,
    acct_tag,
    acct_values,
    bench_mac,
    check_reply,
    from_file,
    generated,
    hmac_md5,
    scatter,
)

# --------------------------------------------------------------------------------------------------
# Self-test and command line


def selftest() -> None:
    """Check the encoder and the reply check against pyrad, the project's RADIUS codec."""
    from pyrad.dictionary import Dictionary
    from pyrad.packet import AccessAccept, AccessReject, AccountingResponse, AcctPacket, AuthPacket

    dictionary = Dictionary(str(Path(__file__).resolve().parent.parent / "radius/dictionaries/dictionary"))
    secret = b"testing123"
    enc = Encoder(secret, RequestOptions("192.0.2.1", "AA-BB-CC-DD-EE-FF:Sesame", True, True))
    for password in ("", "pw", "exactly16bytes!!", "a password longer than sixteen bytes, é"):
        raw, auth = enc.encode(42, Credential("alice@bench.example", password))
        req = AuthPacket(packet=raw, secret=secret, dict=dictionary)
        assert next(iter(req.keys())) == "Message-Authenticator", "Message-Authenticator is not first"
        assert req.verify_message_authenticator(), "bad Message-Authenticator"
        assert req.PwDecrypt(req["User-Password"][0]) == password, "User-Password does not decode"
        assert req["User-Name"] == ["alice@bench.example"] and req.id == 42 and req.authenticator == auth
        assert req["NAS-Port-Type"] == ["Wireless-802.11"] and req["Calling-Station-Id"][0].startswith(
            "02-00-"
        )
        for code in (AccessAccept, AccessReject):
            for with_ma in (True, False):
                reply = req.CreateReply(message_authenticator=with_ma)
                reply.code = code
                data = reply.ReplyPacket()
                assert check_reply(data, auth, secret) == code, "a good reply was refused"
                assert check_reply(data, bytes(16), secret) == -1, "a reply to another request was taken"
                if with_ma:
                    forged = bytearray(data)
                    forged[30] ^= 1
                    forged[4:20] = hashlib.md5(
                        bytes(forged[:4]) + auth + bytes(forged[20:]) + secret
                    ).digest()
                    assert check_reply(bytes(forged), auth, secret) == -2, (
                        "a bad Message-Authenticator passed"
                    )
    for key in (secret, b"k" * 100):
        for msg in (b"", b"x" * 200):
            assert hmac_md5(key, msg) == hmac.digest(key, msg, "md5"), "hmac_md5 is wrong"
    acct = AcctEncoder(secret, prefix="T-", interims=2, users=10)
    for step, status in ((0, "Start"), (1, "Interim-Update"), (3, "Stop")):
        raw, auth = acct.encode(7, acct_tag(123, step))
        req = AcctPacket(packet=raw, secret=secret, dict=dictionary)
        assert req.VerifyAcctRequest(), "bad accounting Request Authenticator"
        assert req["Acct-Status-Type"] == [status] and req["Acct-Session-Id"] == ["T-0000007B"]
        assert req["User-Name"] == ["user3@bench.example"] and req.id == 7 and req.authenticator == auth
        seconds, _, octets_out = acct_values(123, step)
        if step:
            assert req["Acct-Session-Time"] == [seconds]
            assert (req["Acct-Output-Gigawords"][0] << 32) + req["Acct-Output-Octets"][0] == octets_out
        reply = req.CreateReply()
        reply.code = AccountingResponse
        assert check_reply(reply.ReplyPacket(), auth, secret) == AccountingResponse, "good reply refused"
    tags = acct_stream(2, 3)
    first = [next(tags) for _ in range(13)]
    assert first[:4] == [acct_tag(0, 0), acct_tag(1, 0), acct_tag(2, 0), acct_tag(0, 1)], first
    assert first[12] == acct_tag(3, 0), first
    dealt = [acct_stream(2, 3, start=k, stride=4) for k in range(4)]
    assert [next(dealt[i % 4]) for i in range(13)] == first, "dealing over sockets changed the order"
    mac = bench_mac(0x01020304)
    assert mac == "02-00-01-02-03-04", mac
    assert sorted(scatter(1000)) == list(range(1000))
    print("radload self-test passed")


def parse_target(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port or 1812)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("target", nargs="?", default="127.0.0.1:1812", help="HOST:PORT (loopback only)")
    p.add_argument("-s", "--secret", default="testing123")
    src = p.add_argument_group("credentials (one of)")
    src.add_argument("--credentials", type=Path, help="CSV file of 'user,password' or 'mac' lines")
    src.add_argument("--users", type=int, help="generate N users from --pattern with --password")
    src.add_argument("--macs", type=int, help="generate N MAC addresses, each its own password (MAC auth)")
    src.add_argument(
        "--pattern", default=DEFAULT_PATTERN, help="user name pattern with {i} (default %(default)s)"
    )
    src.add_argument("--password", default="bench-password")
    src.add_argument(
        "--order", choices=("scattered", "sequential"), default="scattered", help="for generated ones"
    )
    src.add_argument(
        "--single-use", action="store_true", help="send each credential once, stop when all are sent"
    )
    src.add_argument("--offset", type=int, default=0, help="skip the first N credentials (first pass only)")
    acct = p.add_argument_group(
        "accounting (RFC 2866): sessions of Start, --interims Interim-Updates and Stop, instead of PAP"
    )
    acct.add_argument("--accounting", action="store_true", help="send Accounting-Requests")
    acct.add_argument("--session-prefix", help="Acct-Session-Id prefix, unique per run (default: random)")
    acct.add_argument("--interims", type=int, default=3, help="Interim-Updates per session (default 3)")
    acct.add_argument(
        "--window",
        type=int,
        default=1024,
        help="sessions interleaved at a time: keep it above --outstanding (default %(default)s)",
    )
    acct.add_argument(
        "--acked-out", type=Path, help="write the tag (session << 4 | step) of every answered record, int64"
    )
    attrs = p.add_argument_group("request attributes")
    attrs.add_argument("--nas-ip", help="NAS-IP-Address")
    attrs.add_argument("--called-station-id", help="e.g. AA-BB-CC-DD-EE-FF:Sesame")
    attrs.add_argument(
        "--calling-station-id", action="store_true", help="a MAC per request (always for --macs)"
    )
    attrs.add_argument("--wireless", action="store_true", help="NAS-Port-Type = Wireless-802.11 (19)")
    lg = p.add_argument_group("load")
    lg.add_argument(
        "-d", "--duration", type=float, default=10.0, help="measured seconds (default %(default)s)"
    )
    lg.add_argument("-w", "--warmup", type=float, default=0.0, help="seconds of load before measuring")
    lg.add_argument("-r", "--rate", type=float, help="open loop: requests per second (default: closed loop)")
    lg.add_argument("-n", "--outstanding", type=int, default=512, help="closed loop: requests in flight")
    lg.add_argument("--sockets", type=int, default=16, help="UDP sockets (source ports)")
    lg.add_argument("--timeout", type=float, default=2.0, help="seconds before a request counts as lost")
    lg.add_argument("--max-requests", type=int, default=5_000_000, help="hard cap on requests sent")
    lg.add_argument("--prebuild", type=int, default=400_000, help="packets encoded before the clock starts")
    lg.add_argument("--rcvbuf", type=int, default=8 << 20, help="SO_RCVBUF bytes per socket")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--selftest", action="store_true", help="check the encoder against pyrad and exit")
    a = p.parse_args(argv)

    if a.selftest:
        selftest()
        return 0
    if a.accounting:
        return accounting_main(a)
    if sum(x is not None for x in (a.credentials, a.users, a.macs)) != 1:
        p.error("give exactly one of --credentials, --users, --macs")
    creds: Iterator[Credential]
    if a.credentials:
        creds = from_file(a.credentials, once=a.single_use, offset=a.offset)
    else:
        kind, n = ("mac", a.macs) if a.macs else ("user", a.users)
        creds = generated(n, kind, a.pattern, a.password, once=a.single_use, offset=a.offset, order=a.order)
    host, port = parse_target(a.target)
    options = RequestOptions(a.nas_ip, a.called_station_id, a.calling_station_id, a.wireless)
    load = Load(
        host,
        port,
        a.secret.encode(),
        creds,
        options,
        **_load_settings(a),
    )
    report = load.run(a.duration, a.warmup, a.rate)
    if a.json:
        print(json.dumps(asdict(report)))
    else:
        print(format_report(report))
    return 0


def _load_settings(a: argparse.Namespace) -> dict[str, Any]:
    """The command-line settings of a :class:`Load`, whatever it sends."""
    keys = ("sockets", "outstanding", "rcvbuf", "timeout", "max_requests", "prebuild")
    return {key: getattr(a, key) for key in keys}


def accounting_main(a: argparse.Namespace) -> int:
    """Streams of sessions (user{i % --users}@…, one MAC per session); records answered go to --acked-out."""
    if a.window <= a.outstanding and not a.rate:
        print(
            f"radload: --window {a.window} <= --outstanding {a.outstanding}: records of one session may be "
            "in flight together",
            file=sys.stderr,
        )
    prefix = a.session_prefix or os.urandom(4).hex().upper() + "-"
    encoder = AcctEncoder(
        a.secret.encode(),
        prefix=prefix,
        interims=a.interims,
        users=a.users or 10_000,
        pattern=a.pattern,
        nas_ip=a.nas_ip or "127.0.0.1",
    )
    track: list[int] | None = [] if a.acked_out else None
    host, port = parse_target(a.target)
    load = Load(
        host,
        port,
        a.secret.encode(),
        # dealt one record at a time over the sockets, so that sending round robin keeps the order
        [acct_stream(a.interims, a.window, start=k, stride=a.sockets) for k in range(a.sockets)],
        encoder=encoder,
        track=track,
        **_load_settings(a),
    )
    report = load.run(a.duration, a.warmup, a.rate)
    if a.acked_out and track is not None:
        with a.acked_out.open("wb") as f:
            array("q", track).tofile(f)
    if a.json:
        print(json.dumps(asdict(report) | {"session_prefix": prefix}))
    else:
        print(format_report(report))
        print(f"  Acct-Session-Id prefix {prefix}")
    return 0


def format_report(r: Report) -> str:
    lat = r.latency_ms
    mode = f"open loop at {r.offered_rps:g}/s" if r.offered_rps else f"closed loop, {r.outstanding} in flight"
    lines = [
        f"{r.target}: {mode}, {r.sockets} sockets, {r.duration_s:.2f} s measured",
        f"  sent {r.sent}  replies {r.replies}  accept {r.accepts}  reject {r.rejects}"
        f"  challenge {r.challenges}  accounting-response {r.accounting_responses}  other {r.other_codes}"
        f"  lost {r.lost}",
        f"  throughput {r.throughput_rps:.0f} replies/s",
        f"  latency ms  p50 {lat.get('p50', 0):.3f}  p90 {lat.get('p90', 0):.3f}  p99 {lat.get('p99', 0):.3f}"
        f"  max {lat.get('max', 0):.3f}",
        f"  load generator CPU {r.loadgen_cpu_s:.2f} s = {r.loadgen_cpu_cores:.2f} core"
        f" ({r.loadgen_cpu_us_per_reply:.1f} µs/reply); prebuilt {r.prebuilt} in {r.prebuild_cpu_s:.2f} s,"
        f" {r.encoded_during_run} encoded during the run",
    ]
    problems = {
        "bad authenticator": r.bad_authenticator,
        "bad Message-Authenticator": r.bad_message_authenticator,
        "unmatched": r.unmatched,
        "ICMP errors": r.icmp_errors,
        "send stalls": r.send_stalls,
        "UDP receive-buffer drops (machine-wide)": r.udp_rcvbuf_errors,
    }
    if any(problems.values()):
        lines.append("  " + "  ".join(f"{k} {v}" for k, v in problems.items() if v))
    if r.exhausted:
        lines.append("  stopped early: every single-use credential was sent")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
