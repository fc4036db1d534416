import pytest

from accounts.errors import InvalidInput, SecretUnreadable
from accounts.passwords import Argon2Cost, PasswordHasher, check_password_rules
from accounts.secretbox import SecretBox


def test_a_sealed_secret_opens_with_the_same_key_and_purpose() -> None:
    box = SecretBox("k" * 40)
    sealed = box.seal(b"testing123", purpose="nas-secret")
    assert sealed.startswith("v1.")
    assert b"testing123" not in sealed.encode()
    assert box.open(sealed, purpose="nas-secret") == b"testing123"


def test_sealing_twice_gives_different_ciphertexts() -> None:
    box = SecretBox("k" * 40)
    assert box.seal(b"same", purpose="p") != box.seal(b"same", purpose="p")


def test_a_secret_does_not_open_with_another_key_purpose_or_after_tampering() -> None:
    box = SecretBox("k" * 40)
    sealed = box.seal(b"testing123", purpose="nas-secret")
    with pytest.raises(SecretUnreadable):
        SecretBox("other" * 10).open(sealed, purpose="nas-secret")
    with pytest.raises(SecretUnreadable):
        box.open(sealed, purpose="nt-hash")
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(SecretUnreadable):
        box.open(tampered, purpose="nas-secret")
    with pytest.raises(SecretUnreadable):
        box.open("v9.abcd", purpose="nas-secret")
    with pytest.raises(SecretUnreadable):
        box.open("v1.@@@", purpose="nas-secret")


def test_the_box_never_shows_its_key() -> None:
    assert "k" * 10 not in repr(SecretBox("k" * 40))


def test_during_a_rotation_the_new_key_seals_and_both_open() -> None:
    old, new = "o" * 40, "n" * 40
    by_old = SecretBox(old).seal(b"testing123", purpose="nas-secret")
    window = SecretBox(new, old)
    assert window.open(by_old, purpose="nas-secret") == b"testing123"
    by_new = window.seal(b"testing123", purpose="nas-secret")
    assert SecretBox(new).open(by_new, purpose="nas-secret") == b"testing123"
    with pytest.raises(SecretUnreadable):
        SecretBox(old).open(by_new, purpose="nas-secret")
    resealed = window.resealed(by_old, purpose="nas-secret")
    assert resealed is not None and SecretBox(new).open(resealed, purpose="nas-secret") == b"testing123"
    assert window.resealed(by_new, purpose="nas-secret") is None
    with pytest.raises(SecretUnreadable):
        SecretBox("x" * 40, new).resealed(by_old, purpose="nas-secret")
    # digests: the current key's, then each previous one's
    assert window.digest(b"v", purpose="p") == SecretBox(new).digest(b"v", purpose="p")
    assert window.digests(b"v", purpose="p") == [SecretBox(k).digest(b"v", purpose="p") for k in (new, old)]
    assert SecretBox(new, new).digests(b"v", purpose="p") == [SecretBox(new).digest(b"v", purpose="p")]
    assert old[:10] not in repr(window) and new[:10] not in repr(window)


def test_default_cost_is_argon2id_with_owasp_parameters() -> None:
    hashed = PasswordHasher().hash("correct horse battery")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_verify_accepts_the_password_and_rejects_others(hasher: PasswordHasher) -> None:
    hashed = hasher.hash("correct horse battery")
    assert hasher.verify("correct horse battery", hashed)
    assert not hasher.verify("correct horse batterY", hashed)
    assert not hasher.verify("anything", None)
    assert not hasher.verify("anything", "not a hash")


def test_a_hash_made_with_another_cost_needs_rehash(hasher: PasswordHasher) -> None:
    stronger = PasswordHasher(Argon2Cost(memory_kib=2048, time_cost=1, parallelism=1))
    hashed = hasher.hash("correct horse battery")
    assert stronger.verify("correct horse battery", hashed)
    assert stronger.needs_rehash(hashed)
    assert not hasher.needs_rehash(hashed)


@pytest.mark.parametrize("bad", ["short", "x" * 129])
def test_password_length_rules(bad: str) -> None:
    with pytest.raises(InvalidInput):
        check_password_rules(bad)
    check_password_rules("eight ch")
