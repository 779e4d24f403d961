//! Parquet read back with DuckDB (in the test venv's Python, see `crate::parquet::python`).

use std::process::Command;

use serde_json::Value;

/// The rows of `sql` run by DuckDB in `py`, each the JSON array of its columns (values JSON
/// cannot hold, such as dates and timestamps, as text).
pub fn rows(py: &str, sql: &str) -> Vec<Vec<Value>> {
    let script = "import duckdb, json, sys\n\
                  print(json.dumps(duckdb.sql(sys.argv[1]).fetchall(), default=str))";
    let out = Command::new(py)
        .args(["-c", script, sql])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON rows")
}
