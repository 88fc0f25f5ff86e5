//! Multi-row, multi-statement batches: a commit's deletes and inserts go to
//! SQLite as one query text holding several statements, so a commit costs a
//! few round trips to the connection's worker thread, not one per block or
//! per table.
//!
//! Parameters are anonymous (`?`) and bound in text order: sqlx numbers
//! them on across the statements of one text (numbered `?N` parameters do
//! not mix with that). A text whose parameters would pass SQLite's limit of
//! 32,766 is split. Texts depend only on the row counts, so sqlx's
//! per-connection cache of prepared statements reuses them across commits.

use sqlx::encode::Encode;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, AssertSqlSafe, Sqlite, SqliteConnection, Type};

/// Rows per statement. 256 rows of up to 4 values stay far below SQLite's
/// parameter limit while keeping statements few.
pub(crate) const CHUNK: usize = 256;

/// Most parameters in one query text (SQLite's limit is 32,766).
const MAX_PARAMS: usize = 30_000;

/// `(?, ?), (?, ?), …`: `count` rows of `width` parameters.
pub(crate) fn rows(count: usize, width: usize) -> String {
    let row = format!("({})", list(width));
    vec![row; count].join(", ")
}

/// `?, ?, …`: `count` parameters.
pub(crate) fn list(count: usize) -> String {
    vec!["?"; count].join(", ")
}

/// Statements sent together. Add a statement with [`Batch::statement`],
/// then bind exactly the parameters it announced, in text order.
#[derive(Default)]
pub(crate) struct Batch {
    texts: Vec<(String, SqliteArguments)>,
    sql: String,
    args: SqliteArguments,
    params: usize,
    error: Option<sqlx::Error>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Add a statement (without `;`) that has `params` parameters.
    pub fn statement(&mut self, params: usize, text: &str) {
        if self.params > 0 && self.params + params > MAX_PARAMS {
            let full = (std::mem::take(&mut self.sql), std::mem::take(&mut self.args));
            self.texts.push(full);
            self.params = 0;
        }
        self.params += params;
        self.sql.push_str(text);
        self.sql.push_str(";\n");
    }

    /// Bind the next parameter.
    pub fn bind<'q, T: Encode<'q, Sqlite> + Type<Sqlite>>(&mut self, value: T) {
        if let Err(e) = self.args.add(value)
            && self.error.is_none()
        {
            self.error = Some(sqlx::Error::Encode(e));
        }
    }

    /// Run every statement, in order, on `conn` (inside the caller's transaction).
    pub async fn execute(mut self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if !self.sql.is_empty() {
            self.texts.push((self.sql, self.args));
        }
        for (sql, args) in self.texts {
            sqlx::query_with(AssertSqlSafe(sql), args).execute(&mut *conn).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(rows(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(list(3), "?, ?, ?");
        assert_eq!(list(0), "");
    }

    #[test]
    fn long_batches_split_below_the_parameter_limit() {
        let mut batch = Batch::new();
        for i in 0..3 {
            batch.statement(20_000, &format!("S{i}"));
        }
        assert_eq!(batch.texts.len(), 2, "three statements of 20,000 parameters need three texts");
        assert_eq!(batch.texts[0].0, "S0;\n");
        assert_eq!(batch.sql, "S2;\n");
    }
}
