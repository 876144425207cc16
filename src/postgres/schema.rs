//! The tables zkserver writes, versioned in `zk_schema_version`: created
//! when missing, migrated step by step when older, checked before every
//! delivery run (a newer version, a changed column or a dropped key stops
//! delivery with a clear message; nothing is written until it is fixed).

use postgres::Client;

/// Schema steps; step `i` brings version `i` to `i + 1`. Append only.
/// Each step can run again over its own result (`IF NOT EXISTS`, the
/// version row inserted only into an empty table): the printed SQL
/// ([`sql`]) is run again by hand at every upgrade.
pub const MIGRATIONS: &[&str] = &[
    // 1: punches.
    "CREATE TABLE IF NOT EXISTS zk_schema_version (
         version integer NOT NULL
     );
     INSERT INTO zk_schema_version (version)
         SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM zk_schema_version);
     CREATE TABLE IF NOT EXISTS zk_punches (
         site        text        NOT NULL,
         device_id   text        NOT NULL,
         user_id     text        NOT NULL,
         punched_at  timestamp   NOT NULL,
         status      smallint    NOT NULL,
         punch       smallint    NOT NULL,
         workcode    text,
         device_name text        NOT NULL,
         received_at timestamptz NOT NULL,
         PRIMARY KEY (site, device_id, user_id, punched_at)
     );
     CREATE INDEX IF NOT EXISTS zk_punches_by_time ON zk_punches (punched_at);",
    // 2: terminals and their state.
    "CREATE TABLE IF NOT EXISTS zk_devices (
         site       text        NOT NULL,
         device_id  text        NOT NULL,
         name       text        NOT NULL,
         mode       text        NOT NULL,
         serial     text,
         online     boolean,
         last_seen  timestamptz,
         registered boolean     NOT NULL,
         updated_at timestamptz NOT NULL,
         PRIMARY KEY (site, device_id)
     );",
    // 3: each site's delivered journal position, committed with its rows,
    // so a database restored from a backup (or a promoted replica that
    // lagged) gets again what it lost.
    "CREATE TABLE IF NOT EXISTS zk_sites (
         site       text        PRIMARY KEY,
         journal    text        NOT NULL,
         position   bigint      NOT NULL,
         updated_at timestamptz NOT NULL
     );",
    // 4: the staff list (names for payroll queries); never a keypad
    // password nor a template.
    "CREATE TABLE IF NOT EXISTS zk_people (
         site       text        NOT NULL,
         user_id    text        NOT NULL,
         name       text        NOT NULL,
         card       bigint,
         areas      text[]      NOT NULL,
         deleted    boolean     NOT NULL,
         updated_at timestamptz NOT NULL,
         PRIMARY KEY (site, user_id)
     );",
];

/// The schema version this zkserver writes.
pub fn latest() -> i32 {
    i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX)
}

/// Every column zkserver writes: table, column, `information_schema` type.
const COLUMNS: &[(&str, &str, &str)] = &[
    ("zk_punches", "site", "text"),
    ("zk_punches", "device_id", "text"),
    ("zk_punches", "user_id", "text"),
    ("zk_punches", "punched_at", "timestamp without time zone"),
    ("zk_punches", "status", "smallint"),
    ("zk_punches", "punch", "smallint"),
    ("zk_punches", "workcode", "text"),
    ("zk_punches", "device_name", "text"),
    ("zk_punches", "received_at", "timestamp with time zone"),
    ("zk_devices", "site", "text"),
    ("zk_devices", "device_id", "text"),
    ("zk_devices", "name", "text"),
    ("zk_devices", "mode", "text"),
    ("zk_devices", "serial", "text"),
    ("zk_devices", "online", "boolean"),
    ("zk_devices", "last_seen", "timestamp with time zone"),
    ("zk_devices", "registered", "boolean"),
    ("zk_devices", "updated_at", "timestamp with time zone"),
    ("zk_sites", "site", "text"),
    ("zk_sites", "journal", "text"),
    ("zk_sites", "position", "bigint"),
    ("zk_sites", "updated_at", "timestamp with time zone"),
    ("zk_people", "site", "text"),
    ("zk_people", "user_id", "text"),
    ("zk_people", "name", "text"),
    ("zk_people", "card", "bigint"),
    ("zk_people", "areas", "ARRAY"),
    ("zk_people", "deleted", "boolean"),
    ("zk_people", "updated_at", "timestamp with time zone"),
];

/// Why the database's tables cannot be written.
#[derive(Debug)]
pub enum SchemaError {
    /// A database error (connection, permission, …).
    Db(postgres::Error),
    /// `zk_schema_version` says a version this zkserver does not know.
    Newer { found: i32 },
    /// `zk_schema_version` is there but holds no usable version.
    NoVersion,
    /// A column is missing or has another type.
    Altered { table: String, problem: String },
    /// No tables, and this role may not create them.
    CannotCreate(postgres::Error),
    /// Older tables, and this role may not migrate them.
    CannotMigrate { found: i32, error: postgres::Error },
    /// This role lacks a privilege zkserver needs on one of its tables.
    NoRights {
        table: &'static str,
        privilege: &'static str,
    },
}

impl From<postgres::Error> for SchemaError {
    fn from(e: postgres::Error) -> Self {
        SchemaError::Db(e)
    }
}

/// Brings the schema to [`latest`] (one transaction, serialized between
/// zkserver instances by an advisory lock), then checks every column.
/// Returns the version found before.
pub fn prepare(client: &mut Client) -> Result<i32, SchemaError> {
    let mut tx = client.transaction()?;
    // Two sites starting at once must not both create the tables.
    tx.execute("SELECT pg_advisory_xact_lock(7373657271)", &[])?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('zk_schema_version') IS NOT NULL", &[])?
        .get(0);
    let found = if exists {
        let row = tx.query_one("SELECT max(version) FROM zk_schema_version", &[])?;
        row.get::<_, Option<i32>>(0).ok_or(SchemaError::NoVersion)?
    } else {
        0
    };
    if found > latest() {
        return Err(SchemaError::Newer { found });
    }
    if found < latest() {
        let migrated = (|| {
            for step in &MIGRATIONS[usize::try_from(found).unwrap_or(0)..] {
                tx.batch_execute(step)?;
            }
            tx.execute("UPDATE zk_schema_version SET version = $1", &[&latest()])
        })();
        match migrated {
            Err(e) if is_denied(&e) && !exists => return Err(SchemaError::CannotCreate(e)),
            Err(e) if is_denied(&e) => return Err(SchemaError::CannotMigrate { found, error: e }),
            other => other?,
        };
    }
    tx.commit()?;
    check(client)?;
    Ok(found)
}

/// Whether the server refused `e` for lack of a privilege.
fn is_denied(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
}

/// The privileges zkserver uses, per table.
const PRIVILEGES: &[(&str, &[&str])] = &[
    ("zk_punches", &["SELECT", "INSERT", "UPDATE"]),
    ("zk_devices", &["SELECT", "INSERT", "UPDATE"]),
    ("zk_sites", &["SELECT", "INSERT", "UPDATE"]),
    ("zk_people", &["SELECT", "INSERT", "UPDATE"]),
    ("zk_schema_version", &["SELECT"]),
];

/// Checks that this role holds what [`PRIVILEGES`] lists on the tables
/// that exist (a table without any grant hides its columns from
/// `information_schema`: it would look altered).
fn check_privileges(client: &mut Client) -> Result<(), SchemaError> {
    for (table, privileges) in PRIVILEGES {
        for privilege in *privileges {
            let held: Option<bool> = client
                .query_one(
                    "SELECT CASE WHEN to_regclass($1) IS NULL THEN NULL
                                 ELSE has_table_privilege(to_regclass($1), $2) END",
                    &[table, privilege],
                )?
                .get(0);
            if held == Some(false) {
                return Err(SchemaError::NoRights { table, privilege });
            }
        }
    }
    Ok(())
}

/// Checks the columns zkserver writes and the punch key that keeps rows
/// unique.
pub fn check(client: &mut Client) -> Result<(), SchemaError> {
    check_privileges(client)?;
    let rows = client.query(
        "SELECT table_name::text, column_name::text, data_type::text
           FROM information_schema.columns
          WHERE table_schema = current_schema()
            AND table_name IN ('zk_punches', 'zk_devices', 'zk_sites', 'zk_people')",
        &[],
    )?;
    let found: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    for (table, column, kind) in COLUMNS {
        match found.iter().find(|(t, c, _)| t == table && c == column) {
            None => {
                return Err(SchemaError::Altered {
                    table: (*table).to_string(),
                    problem: format!("falta la columna {column}"),
                })
            }
            Some((_, _, k)) if k != kind => {
                return Err(SchemaError::Altered {
                    table: (*table).to_string(),
                    problem: format!("la columna {column} es de tipo {k} (debe ser {kind})"),
                })
            }
            Some(_) => {}
        }
    }
    let keyed: bool = client
        .query_one(
            "SELECT EXISTS (
               SELECT 1 FROM pg_index i
                WHERE i.indrelid = to_regclass('zk_punches') AND i.indisunique
                  AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text)
                         FROM pg_attribute a
                        WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey))
                      = ARRAY['device_id', 'punched_at', 'site', 'user_id'])",
            &[],
        )?
        .get(0);
    if !keyed {
        return Err(SchemaError::Altered {
            table: "zk_punches".into(),
            problem: "falta la clave primaria (site, device_id, user_id, punched_at)".into(),
        });
    }
    Ok(())
}

/// The whole schema as SQL, for a database administrator who creates the
/// tables before giving zkserver a role without CREATE rights. Running it
/// again (after an upgrade) adds what is missing and changes nothing else:
/// no errors, one version row, never a lower version.
pub fn sql() -> String {
    // psql would print a NOTICE for every table already there.
    let mut text = String::from("SET client_min_messages = warning;\n");
    for (i, step) in MIGRATIONS.iter().enumerate() {
        text.push_str(&format!("-- version {}\n", i + 1));
        for line in step.lines() {
            text.push_str(line.strip_prefix("     ").unwrap_or(line));
            text.push('\n');
        }
    }
    text.push_str(&format!(
        "UPDATE zk_schema_version SET version = {0} WHERE version < {0};\n",
        latest()
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_written_column_is_created() {
        let sql = sql();
        for (table, column, _) in COLUMNS {
            let start = sql
                .find(&format!("CREATE TABLE IF NOT EXISTS {table} ("))
                .expect(table);
            let body = &sql[start..start + sql[start..].find(");").unwrap()];
            assert!(
                body.lines()
                    .any(|l| l.trim_start().starts_with(&format!("{column} "))),
                "{table}.{column}"
            );
        }
        let n = latest();
        assert!(sql.ends_with(&format!("SET version = {n} WHERE version < {n};\n")));
    }
}
