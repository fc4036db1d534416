"""Sésame's Kannel adapter against a real Kannel (issue 19): bearerbox, smsbox's ``sendsms`` and
``fakesmsc`` as the operator's SMS centre (tests/support/kannel.py). What the adapter sends is
read back from what fakesmsc received."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal.kannel import KannelGateway
from portal.sms import Sms, SmsError
from tests.support.kannel import PASSWORD, USERNAME, Kannel, running_kannel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kannel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kannel]:
    with running_kannel(tmp_path_factory.mktemp("kannel")) as running:
        yield running


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_an_sms_sent_through_sendsms_reaches_the_smsc(kannel: Kannel, method: str) -> None:
    gateway = KannelGateway(
        url=kannel.sendsms_url, username=USERNAME, password=PASSWORD, sender="Wi-Fi", method=method
    )
    to = "+33612345670" if method == "GET" else "+33612345671"
    before = len(kannel.messages())
    try:
        await gateway.send(Sms(to=to, text=f"Région Sud Wi-Fi: your code is 123456 ({method})"))
    finally:
        await gateway.aclose()
    received = kannel.wait_for(to, after=before)
    assert received.sender == "Wi-Fi"
    assert received.text == f"Région Sud Wi-Fi: your code is 123456 ({method})"


async def test_wrong_credentials_are_an_error_and_nothing_is_sent(kannel: Kannel) -> None:
    gateway = KannelGateway(url=kannel.sendsms_url, username=USERNAME, password="wrong", sender="Wi-Fi")
    before = len(kannel.messages())
    try:
        with pytest.raises(SmsError) as raised:
            await gateway.send(Sms(to="+33612345672", text="code 000000"))
    finally:
        await gateway.aclose()
    assert raised.value.kind == "forbidden"
    # a right one sent after it arrives, and the wrong one never did
    ok = KannelGateway(url=kannel.sendsms_url, username=USERNAME, password=PASSWORD, sender="Wi-Fi")
    try:
        await ok.send(Sms(to="+33612345673", text="after"))
    finally:
        await ok.aclose()
    kannel.wait_for("+33612345673", after=before)
    assert all(m.to != "+33612345672" for m in kannel.messages())


async def test_an_unreachable_kannel_is_an_error_of_its_own_kind() -> None:
    from tests.support.ports import free_tcp_port

    gateway = KannelGateway(
        url=f"http://127.0.0.1:{free_tcp_port()}/cgi-bin/sendsms", username=USERNAME, password=PASSWORD,
        sender="Wi-Fi", timeout=2.0,
    )  # fmt: skip
    try:
        with pytest.raises(SmsError) as raised:
            await gateway.send(Sms(to="+33612345674", text="x"))
    finally:
        await gateway.aclose()
    assert raised.value.kind == "unreachable"


@pytest.mark.parametrize(
    "url",
    [
        "http://sms.example.org/cgi-bin/sendsms",  # plain http to a name: numbers and codes in clear
        "http://203.0.113.5:13013/cgi-bin/sendsms",  # plain http to a public address
        "https://user:pw@sms.example.org/cgi-bin/sendsms",
        "file:///etc/passwd",
    ],
)
def test_a_sendsms_url_that_could_leak_codes_is_refused(url: str) -> None:
    from accounts.errors import InvalidInput

    with pytest.raises(InvalidInput):
        KannelGateway(url=url, username=USERNAME, password=PASSWORD, sender="Wi-Fi")
