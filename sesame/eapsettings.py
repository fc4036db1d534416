"""The ``[eap]`` section of the settings (``SESAME_EAP_*``): certificates, methods, TLS versions
and the bounds on conversations (docs/eap.md, docs/configuration.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["EapSettings"]


class EapSettings(BaseModel):
    """EAP served here (PEAP, EAP-TTLS, EAP-TLS; docs/eap.md). Off until a certificate is set:
    then an Access-Request with EAP-Message for our realm is answered here. Files are read again
    when they change (a renewed certificate needs no restart)."""

    model_config = ConfigDict(extra="forbid")

    #: the server's certificate (PEM, followed by its intermediate CAs) and private key
    certificate: str = ""
    private_key: str = ""
    private_key_password: SecretStr = SecretStr("")
    #: the CA that issued the server's certificate (PEM): the one devices must trust, published by
    #: the portal at /eap/ca.pem and /eap/ca.crt with the server's name (/eap/server.json); the
    #: server's chain must lead to it ("": nothing is published). While the server's CA changes,
    #: a PEM bundle of the old and the new CA (at most 4): every profile pins each, the chain must
    #: lead to one (docs/onboarding.md, "Certificates: what to buy, what to make, how to rotate")
    ca: str = ""
    #: the CA devices' EAP-TLS certificates must chain to ("": EAP-TLS is off); a certificate must
    #: also be registered for an account and not revoked (``sesame eap device-cert``)
    device_ca: str = ""
    #: methods offered, in order of preference (the first is proposed; a device may ask for another)
    methods: str = "peap,ttls,tls"
    #: inner methods of EAP-TTLS (PEAP carries EAP-MSCHAPv2 only)
    ttls_inner: str = "pap,mschapv2,eap-mschapv2"
    tls_min_version: str = Field(default="1.2", pattern=r"^1\.[23]$")
    tls_max_version: str = Field(default="1.3", pattern=r"^1\.[23]$")
    #: largest TLS fragment per EAP packet, as FreeRADIUS's fragment_size (Framed-MTU lowers it)
    fragment_size: int = Field(default=1024, ge=64, le=4000)
    #: conversations a worker holds at once, and from one access point or proxy; more wait (dropped,
    #: the access point retries) so that a flood of unfinished handshakes cannot take the memory
    max_conversations: int = Field(default=4096, ge=16, le=1_000_000)
    max_conversations_per_client: int = Field(default=1024, ge=1, le=1_000_000)
    #: a conversation not finished within this many seconds or rounds is forgotten (refused)
    deadline: float = Field(default=30.0, ge=5.0, le=600.0)
    max_rounds: int = Field(default=50, ge=10, le=200)

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: str) -> str:
        return _choose(value, {"peap", "ttls", "tls"})

    @field_validator("ttls_inner")
    @classmethod
    def _ttls_inner(cls, value: str) -> str:
        return _choose(value, {"pap", "mschapv2", "eap-mschapv2"})

    @field_validator("certificate", "private_key", "device_ca", "ca")
    @classmethod
    def _file(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError(f"no file at {value}")
        return value

    @model_validator(mode="after")
    def _together(self) -> EapSettings:
        if bool(self.certificate) != bool(self.private_key):
            raise ValueError(
                "set both the certificate and its private key (SESAME_EAP_CERTIFICATE, _PRIVATE_KEY)"
            )
        if self.tls_min_version > self.tls_max_version:
            raise ValueError("tls_min_version is above tls_max_version")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.certificate)

    @property
    def method_list(self) -> list[str]:
        return [m for m in self.methods.split(",") if m != "tls" or self.device_ca]


def _choose(value: str, allowed: set[str]) -> str:
    parts = [p.strip().lower() for p in value.split(",") if p.strip()]
    unknown = [p for p in parts if p not in allowed]
    if unknown or not parts:
        raise ValueError(f"choose among {', '.join(sorted(allowed))}")
    return ",".join(dict.fromkeys(parts))
