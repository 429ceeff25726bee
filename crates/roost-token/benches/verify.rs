//! Rough cost of minting and verifying one token, with `std::time::Instant` (no criterion):
//! `cargo bench -p roost-token`. Verification sits on the router's cache-miss path and on every
//! workspace request, so it should stay in the tens of microseconds.

use std::{hint::black_box, time::Instant};

use roost_token::{AccessClaims, SigningKey, Verifier, token_digest};

const ITERATIONS: u32 = 20_000;

fn main() {
    let key = SigningKey::generate();
    let mut verifier = Verifier::new("https://auth.example.com", "https://mcp.example.com/mcp");
    // A second, unrelated key, as during a rotation.
    verifier
        .add_jwk(&SigningKey::generate().public_jwk())
        .unwrap();
    verifier.add_jwk(&key.public_jwk()).unwrap();
    let claims = AccessClaims {
        iss: "https://auth.example.com".into(),
        aud: "https://mcp.example.com/mcp".into(),
        sub: "u_01J9Z3K7Q8".into(),
        tenant: "roost-u-3f9a2c1d".into(),
        scope: "roost:workspace roost:run".into(),
        client_id: "https://client.example.com/oauth.json".into(),
        iat: 1_800_000_000,
        nbf: 1_800_000_000,
        exp: 1_800_000_600,
        jti: "0193b4c2-7d1e-7c3a-9f00-5b2d8e4a1c77".into(),
    };
    let token = key.sign(&claims).unwrap();
    println!("token length: {} bytes", token.len());

    report("sign", || {
        black_box(key.sign(black_box(&claims)).unwrap());
    });
    report("verify", || {
        black_box(
            verifier
                .verify_at(black_box(&token), 1_800_000_100)
                .unwrap(),
        );
    });
    // Change one signature character (never the last, whose low bits are padding).
    let at = token.len() - 10;
    let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
    report("verify (bad signature)", || {
        black_box(
            verifier
                .verify_at(black_box(&forged), 1_800_000_100)
                .unwrap_err(),
        );
    });
    report("token_digest", || {
        black_box(token_digest(black_box(&token)));
    });
}

fn report(name: &str, mut op: impl FnMut()) {
    for _ in 0..ITERATIONS / 10 {
        op();
    }
    let start = Instant::now();
    for _ in 0..ITERATIONS {
        op();
    }
    let per_op = start.elapsed() / ITERATIONS;
    println!("{name:<24} {per_op:>10.2?} per op");
}
