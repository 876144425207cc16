//! Many rows in few statements: `INSERT … VALUES (…), (…), …` with up to
//! [`ROWS_PER_STATEMENT`] rows each, so that storing thousands of rows
//! (a staff-list import, a sync's record) steps one statement per chunk
//! instead of one per row. The same upsert clause applies to every row,
//! in order, as if each were inserted by itself.

use rusqlite::{Connection, Statement};

/// Rows per statement (a full chunk's statement is prepared once and
/// cached; 64 rows of 10 columns stay far below SQLite's 32 766 parameters).
pub(super) const ROWS_PER_STATEMENT: usize = 64;

/// Runs `head VALUES (?, …), … tail` for `rows`, `columns` values each,
/// `bind(statement, first_parameter, row)` binding one row's values at
/// `first_parameter..first_parameter + columns` (1-based).
pub(super) fn insert_many<T>(
    conn: &Connection,
    head: &str,
    columns: usize,
    tail: &str,
    rows: &[T],
    bind: impl Fn(&mut Statement<'_>, usize, &T) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = statement(head, columns, chunk.len(), tail);
        let mut stmt = conn.prepare_cached(&sql)?;
        for (i, row) in chunk.iter().enumerate() {
            bind(&mut stmt, 1 + i * columns, row)?;
        }
        stmt.raw_execute()?;
        if chunk.len() < ROWS_PER_STATEMENT {
            // A last, shorter chunk's text varies: not kept in the cache.
            stmt.discard();
        }
    }
    Ok(())
}

/// `head VALUES (?,…,?), … tail` for `rows` rows of `columns` values.
fn statement(head: &str, columns: usize, rows: usize, tail: &str) -> String {
    let one = format!("({})", vec!["?"; columns].join(","));
    format!("{head} VALUES {} {tail}", vec![one; rows].join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            .expect("create");
        conn
    }

    fn put(conn: &Connection, rows: &[(i64, String)]) {
        insert_many(
            conn,
            "INSERT INTO t (k, v)",
            2,
            "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            rows,
            |stmt, at, (k, v)| {
                stmt.raw_bind_parameter(at, k)?;
                stmt.raw_bind_parameter(at + 1, v)
            },
        )
        .expect("insert");
    }

    fn all(conn: &Connection) -> Vec<(i64, String)> {
        let mut stmt = conn
            .prepare("SELECT k, v FROM t ORDER BY k")
            .expect("prepare");
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)));
        rows.expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    #[test]
    fn every_row_is_stored_across_full_and_short_chunks() {
        let conn = table();
        for n in [
            0,
            1,
            ROWS_PER_STATEMENT - 1,
            ROWS_PER_STATEMENT,
            2 * ROWS_PER_STATEMENT + 3,
        ] {
            conn.execute("DELETE FROM t", []).expect("delete");
            let rows: Vec<(i64, String)> = (0..n as i64).map(|k| (k, format!("v{k}"))).collect();
            put(&conn, &rows);
            assert_eq!(all(&conn), rows, "{n} rows");
        }
    }

    #[test]
    fn a_key_given_twice_keeps_the_later_row_as_one_by_one_inserts_would() {
        let conn = table();
        put(&conn, &[(1, "old".into())]);
        let mut rows: Vec<(i64, String)> = (0..100).map(|k| (k, format!("a{k}"))).collect();
        rows.push((1, "last".into()));
        rows.push((70, "later".into()));
        put(&conn, &rows);
        let stored = all(&conn);
        assert_eq!(stored.len(), 100);
        assert_eq!(stored[1], (1, "last".into()));
        assert_eq!(stored[70], (70, "later".into()));
        assert_eq!(stored[99], (99, "a99".into()));
    }
}
