//! Integration tests: one binary, one module per area.

mod util;
// Every fixture in pcaps/ against its oracle, key by key.
mod oracle;
