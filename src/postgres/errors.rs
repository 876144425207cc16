//! What went wrong with the database, in the driver's and the server's
//! own English words, for the log; the Spanish for `/health` is
//! [`crate::messages::postgres`]'s.

use super::schema::SchemaError;

/// The detail of a schema problem for the log (the server's English
/// message, when it sent one).
pub fn schema_detail(err: &SchemaError) -> String {
    match err {
        SchemaError::Db(db)
        | SchemaError::CannotCreate(db)
        | SchemaError::CannotMigrate { error: db, .. } => chain_of(db),
        other => format!("{other:?}"),
    }
}

/// The driver's whole error chain, for the log.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// The detail of `err` for the admin's log: the server's message and code,
/// or the driver's whole error chain.
pub fn chain_of(err: &postgres::Error) -> String {
    let mut text = chain(err);
    if let Some(db) = err.as_db_error() {
        text = format!("{} ({}): {}", db.severity(), db.code().code(), db.message());
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; {detail}"));
        }
    }
    text
}
