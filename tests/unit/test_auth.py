import stat
import warnings
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr

from todostream.api.auth import Authenticator, NotAuthenticated, resolve_secret
from todostream.config import Settings

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
OTHER_SECRET = "another-secret-that-is-long-enough-for-hs256"


def authenticator(*, allow_anonymous: bool = False, secret: str = SECRET) -> Authenticator:
    return Authenticator(secret, allow_anonymous=allow_anonymous, local_user_id="local")


def bearer(token: str) -> str:
    return f"Bearer {token}"


def signed(claims: dict[str, object], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def refusal(authorization: str | None, *, allow_anonymous: bool = False) -> str:
    with pytest.raises(NotAuthenticated) as caught:
        authenticator(allow_anonymous=allow_anonymous).user_id(authorization)
    return str(caught.value)


@pytest.fixture
def settings_without_secret(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("AUTH_JWT_SECRET", raising=False)
    return Settings()


# Tokens


def test_an_issued_token_names_its_user() -> None:
    auth = authenticator()

    assert auth.user_id(bearer(auth.issue("alice"))) == "alice"


def test_a_token_issued_without_expiry_is_accepted() -> None:
    auth = authenticator()

    assert auth.user_id(bearer(auth.issue("alice", ttl=None))) == "alice"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_the_scheme_is_read_in_any_case_and_spaces_around_the_token_are_ignored(
    scheme: str,
) -> None:
    auth = authenticator()

    assert auth.user_id(f"{scheme}   {auth.issue('alice')}  ") == "alice"


@pytest.mark.parametrize("header", [None, ""])
def test_a_request_without_credentials_acts_for_the_local_user_when_anonymous_is_allowed(
    header: str | None,
) -> None:
    assert authenticator(allow_anonymous=True).user_id(header) == "local"


@pytest.mark.parametrize("header", [None, ""])
def test_a_request_without_credentials_is_refused_when_anonymous_is_not_allowed(
    header: str | None,
) -> None:
    assert refusal(header) == "send Authorization: Bearer <token>"


@pytest.mark.parametrize("allow_anonymous", [True, False])
@pytest.mark.parametrize(
    "header", ["Basic YWxpY2U6cHc=", "Token abc", "Bearer", "Bearer    ", "Bearer\tabc"]
)
def test_a_header_that_is_not_bearer_and_a_token_is_refused(
    header: str, allow_anonymous: bool
) -> None:
    message = refusal(header, allow_anonymous=allow_anonymous)

    assert message == "the Authorization header must be 'Bearer <token>'"


@pytest.mark.parametrize("allow_anonymous", [True, False])
def test_a_garbage_token_is_refused_even_when_anonymous_is_allowed(allow_anonymous: bool) -> None:
    message = refusal(bearer("not-a-jwt"), allow_anonymous=allow_anonymous)

    assert message.startswith("invalid token: ")


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = authenticator(secret=OTHER_SECRET).issue("mallory")

    assert refusal(bearer(token)) == "invalid token: Signature verification failed"


def test_an_expired_token_is_refused() -> None:
    token = authenticator().issue("alice", ttl=timedelta(seconds=-1))

    assert refusal(bearer(token)) == "invalid token: Signature has expired"


def test_a_token_without_a_subject_is_refused() -> None:
    message = refusal(bearer(signed({"name": "alice"})))

    assert message.startswith("invalid token: ")
    assert '"sub"' in message


@pytest.mark.parametrize("subject", ["", "x" * 256, "nul\x00byte", "line\nbreak", " padded "])
def test_a_subject_that_is_empty_too_long_or_unprintable_is_refused(subject: str) -> None:
    message = refusal(bearer(signed({"sub": subject})))

    assert message == "invalid token: sub must be a user id of 1-255 printable characters"


def test_a_subject_of_255_characters_is_accepted() -> None:
    assert authenticator().user_id(bearer(signed({"sub": "x" * 255}))) == "x" * 255


def test_an_unsigned_token_is_refused() -> None:
    token = jwt.encode({"sub": "alice"}, None, algorithm="none")

    assert refusal(bearer(token)).startswith("invalid token: ")


# Secrets


def test_a_secret_shorter_than_32_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="AUTH_JWT_SECRET must be at least 32 bytes"):
        authenticator(secret="s" * 31)


def test_the_shortest_accepted_secret_is_long_enough_for_hs256() -> None:
    # PyJWT warns about HMAC keys shorter than the 32 bytes of a SHA-256 digest.
    auth = authenticator(secret="s" * 32)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        token = auth.issue("alice")
        assert auth.user_id(bearer(token)) == "alice"


def test_a_configured_secret_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    settings = Settings(auth_jwt_secret=SecretStr(SECRET))
    secret_file = tmp_path / "jwt-secret"

    assert resolve_secret(settings, secret_file) == SECRET
    assert not secret_file.exists()


def test_without_a_configured_secret_one_is_created_in_a_private_file(
    settings_without_secret: Settings, tmp_path: Path
) -> None:
    secret_file = tmp_path / "state" / "jwt-secret"

    secret = resolve_secret(settings_without_secret, secret_file)

    assert secret_file.read_text(encoding="utf-8") == secret
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert len(secret) >= 32


def test_the_created_secret_is_returned_again_on_the_next_start(
    settings_without_secret: Settings, tmp_path: Path
) -> None:
    secret_file = tmp_path / "jwt-secret"
    first = resolve_secret(settings_without_secret, secret_file)

    second = resolve_secret(settings_without_secret, secret_file)

    assert second == first
    assert secret_file.read_text(encoding="utf-8") == first


def test_tokens_issued_before_a_restart_are_accepted_after_it(
    settings_without_secret: Settings, tmp_path: Path
) -> None:
    secret_file = tmp_path / "jwt-secret"
    token = authenticator(secret=resolve_secret(settings_without_secret, secret_file)).issue("bo")

    restarted = authenticator(secret=resolve_secret(settings_without_secret, secret_file))

    assert restarted.user_id(bearer(token)) == "bo"


def test_a_secret_file_written_by_hand_is_read_without_its_line_break(
    settings_without_secret: Settings, tmp_path: Path
) -> None:
    secret_file = tmp_path / "jwt-secret"
    secret_file.write_text(f"{SECRET}\n", encoding="utf-8")

    assert resolve_secret(settings_without_secret, secret_file) == SECRET
