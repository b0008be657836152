//! Integration tests: the real server on a random port with a temp data dir, driven over real
//! websockets and HTTP. One binary, so it is built and linked once.

mod bad_input;
mod helpers;
mod http;
mod live_updates;
mod overview;
mod persistence;
mod settings;
mod whole_board;
