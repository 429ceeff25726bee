//! What the end-to-end test files share besides [`roost_e2e::node`]: the whole stack.
#![allow(dead_code)] // each test file uses a different part

pub mod stack;
