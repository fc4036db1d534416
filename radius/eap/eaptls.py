"""EAP-TLS (RFC 5216, RFC 9190): what it does beyond the TLS handshake every TLS-based method shares.

* The server requires a client certificate; OpenSSL verifies its chain against the device CA in
  the handshake (:func:`radius.eap.tlsengine.make_context` with ``client_ca``). Whose device it is
  and whether it was revoked is the database's to say, so the conversation then asks the caller
  with :func:`certificate_need` (a resumed session asks again: revocation is never skipped).
* Under TLS 1.3 the server cannot tell the peer "the handshake is over" by the handshake itself
  (NewSessionTicket may follow Finished), so it sends a commitment message once it will send no
  more handshake messages: one octet of application data, 0x00 (RFC 9190 §2.5). The peer answers
  with an empty EAP-TLS Response, then gets EAP-Success. Under TLS 1.2 the server's
  ChangeCipherSpec and Finished play that part: they are held back until the certificate is
  accepted, acknowledged by the peer, then EAP-Success follows (RFC 5216 §2.1.1).
"""

from __future__ import annotations

from cryptography import x509

from radius.eap.needs import NeedCertificate

__all__ = ["COMMITMENT", "METHOD_NAME", "certificate_need"]

COMMITMENT = b"\x00"
METHOD_NAME = "eap-tls"


def certificate_need(certificate: x509.Certificate) -> NeedCertificate:
    """The question about a device certificate: its serial, issuer (DER), subject and alternative
    names (e-mail, DNS and URI names, as text)."""
    names: list[str] = []
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        pass
    except ValueError:  # an extension cryptography cannot parse: no names, the serial still identifies it
        pass
    else:
        for kind in (x509.RFC822Name, x509.DNSName, x509.UniformResourceIdentifier):
            names += extension.value.get_values_for_type(kind)
    return NeedCertificate(
        serial=certificate.serial_number,
        issuer=certificate.issuer.public_bytes(),
        subject=certificate.subject.rfc4514_string(),
        san=names,
    )
