//! The connection to PostgreSQL and the schema's versioned migrations.

use tokio_postgres::{Client, NoTls};

/// Why head office could not do something.
#[derive(Debug, thiserror::Error)]
pub enum HqError {
    #[error("PostgreSQL: {}", db_text(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("{0}")]
    Refused(String),
}

/// The server's own words for an error ("db error" alone says nothing).
fn db_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{} ({})", d.message(), d.code().code()),
        None => e.to_string(),
    }
}

/// The migrations, in order: (version, name, SQL). A released migration is
/// never edited; a change is a new one.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "journal", include_str!("migrations/0001_journal.sql")),
    (2, "sales", include_str!("migrations/0002_sales.sql")),
];

/// Connects to `url` (`postgres://user@host:port/db` or `host=… user=…`);
/// the connection runs on the caller's runtime until the client is
/// dropped.
pub async fn connect(url: &str) -> Result<Client, HqError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// Brings the schema up to date: each migration not yet applied runs in its
/// own transaction, under an advisory lock so two head-office processes
/// starting together do not both apply it. Returns the versions applied.
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, HqError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INTEGER PRIMARY KEY,
                 name TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await?;
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        let tx = client.transaction().await?;
        // Any constant serves as the lock's key; this one spells "tillhq".
        tx.execute("SELECT pg_advisory_xact_lock(7416698)", &[])
            .await?;
        let done = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[version],
            )
            .await?
            .is_some();
        if !done {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            )
            .await?;
            applied.push(*version);
        }
        tx.commit().await?;
    }
    Ok(applied)
}
