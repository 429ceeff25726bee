//! roost access tokens: EdDSA JWT claims, signing, verification with key rotation, JWKS.
