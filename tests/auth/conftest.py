"""Fixtures for the auth tests: a token factory, a backend client, the dev issuer."""

from __future__ import annotations

import pytest

from app.auth.clients import ClientRegistry
from app.auth.dev_issuer import DevIssuer
from app.auth.service import AuthService
from app.auth.tokens import TokenValidator
from tests.auth.app import BASE_URL
from tests.support.tokens import BackendClient, TokenFactory, clients_document, signing_key


@pytest.fixture
def tf() -> TokenFactory:
    return TokenFactory(BASE_URL)


@pytest.fixture
def backend() -> BackendClient:
    return BackendClient("horsens-omsorg", scope="system/CarePlan.cruds system/Patient.rs")


@pytest.fixture
def dev_issuer(backend: BackendClient) -> DevIssuer:
    clients = ClientRegistry.from_document(clients_document(backend, BackendClient("rsa", "RS384")))
    return DevIssuer(BASE_URL, signing_key("ES384", "dev-issuer"), clients)


@pytest.fixture
def dev_service(dev_issuer: DevIssuer, tf: TokenFactory) -> AuthService:
    """Development: the dev issuer plus the test issuer are trusted."""
    issuers = {**tf.issuers(), dev_issuer.issuer: dev_issuer.jwks_source()}
    return AuthService(TokenValidator(issuers, BASE_URL), dev_issuer=dev_issuer)
