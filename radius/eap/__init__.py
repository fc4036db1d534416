"""EAP terminated by Sésame itself (issue 15): PEAPv0, EAP-TTLS and EAP-TLS over TLS 1.2 and 1.3.

Sans-I/O like the rest of the RADIUS core: EAP-Message octets, the State and ``now`` go in
(:meth:`radius.eap.server.EapServer.receive`), steps come out (:mod:`radius.eap.steps`): an
Access-Challenge to send, a question for the caller (a password, NT hashes, a device
certificate), or the end of the conversation with its keys. TLS runs in memory (pyOpenSSL over
memory BIOs); nothing here touches a socket, a database or the clock.
"""
