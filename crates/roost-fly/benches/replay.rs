//! Rough cost of the replay builders and parsers on the router's hot path, with
//! `std::time::Instant` (no criterion): `cargo bench -p roost-fly`. The router builds one replay
//! per MCP request, so these should stay well under a microsecond.

use std::hint::black_box;
use std::time::{Duration, Instant};

use roost_fly::replay::{Fallback, Replay, ReplaySrc, SetHeader, Transform};

const ITERATIONS: u32 = 200_000;

fn main() {
    let state = "k3y.0193b4c2-7d1e-7c3a-9f00-5b2d8e4a1c77";
    let replay = Replay::to_app("roost-u-3f9a2c1d")
        .state(state)
        .timeout(Duration::from_secs(30))
        .fallback(Fallback::PreferSelf);
    report("header_value", || {
        black_box(black_box(&replay).header_value().unwrap());
    });
    let mut buffer = Vec::with_capacity(256);
    report("write_json (reused buffer)", || {
        buffer.clear();
        black_box(&replay).write_json(&mut buffer).unwrap();
        black_box(&buffer);
    });
    let set = [SetHeader {
        name: "authorization",
        value: "Bearer eyJhbGciOiJFZERTQSJ9.e30.c2lnbmF0dXJl",
    }];
    let with_transform = replay.transform(Transform {
        set_headers: &set,
        ..Transform::default()
    });
    report("json_body (with transform)", || {
        black_box(black_box(&with_transform).json_body().unwrap());
    });
    let src = "instance=3d8d413b29d089;region=iad;t=1763920800123456;state=k3y.abc";
    report("ReplaySrc::parse", || {
        black_box(ReplaySrc::parse(black_box(src)).unwrap());
    });
}

fn report(name: &str, mut op: impl FnMut()) {
    for _ in 0..ITERATIONS / 10 {
        op();
    }
    let started = Instant::now();
    for _ in 0..ITERATIONS {
        op();
    }
    let per_op = started.elapsed() / ITERATIONS;
    println!("{name:<28} {per_op:>10.0?} per op");
}
