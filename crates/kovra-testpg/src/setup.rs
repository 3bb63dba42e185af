//! The SQL run once the server is up: the roles, the database, their grants and settings.

use crate::options::{Access, PgOptions};

/// The script, for `psql` on its standard input (never its arguments, where `ps` shows it).
pub(crate) fn script(opts: &PgOptions, superuser: &str) -> String {
    let owners: Vec<_> = opts
        .roles
        .iter()
        .filter(|r| r.access == Access::Owner)
        .collect();
    assert!(owners.len() <= 1, "at most one role can own the database");
    // A failed statement is not copied into the server's log (it may hold a password), and
    // psql reports errors without the statement's text.
    let mut sql = String::from("\\set VERBOSITY terse\nSET log_min_error_statement = panic;\n");
    for role in &opts.roles {
        let name = ident(&role.login.user);
        sql.push_str(&format!(
            "CREATE ROLE {name} LOGIN PASSWORD {};\n",
            literal(&role.login.password)
        ));
        for (setting, value) in &role.settings {
            sql.push_str(&format!(
                "ALTER ROLE {name} SET {setting} = {};\n",
                literal(value)
            ));
        }
        if role.access == Access::ReadOnly {
            sql.push_str(&format!(
                "GRANT pg_read_all_data TO {name};\n\
                 ALTER ROLE {name} SET default_transaction_read_only = on;\n"
            ));
        }
    }
    let owner = owners.first().map_or(superuser, |r| &r.login.user);
    sql.push_str(&format!(
        "CREATE DATABASE {} OWNER {};\n",
        ident(&opts.database),
        ident(owner)
    ));
    sql
}

/// A quoted SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    assert!(
        !name.is_empty() && !name.contains('\0'),
        "not a name: {name:?}"
    );
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A quoted SQL string (standard_conforming_strings is on: backslashes are plain).
fn literal(value: &str) -> String {
    assert!(!value.contains('\0'), "a NUL cannot be in an SQL string");
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Role;

    #[test]
    fn quotes_names_and_values() {
        assert_eq!(ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(literal(r"it's \x"), r"'it''s \x'");
    }

    #[test]
    fn the_owner_owns_the_database() {
        let opts = PgOptions::default()
            .database("app")
            .role(Role::read_only("r", "pw"))
            .role(Role::owner("o", "pw").setting("statement_timeout", "5s"));
        let sql = script(&opts, "postgres");
        assert!(
            sql.contains("CREATE DATABASE \"app\" OWNER \"o\";"),
            "{sql}"
        );
        assert!(sql.contains("ALTER ROLE \"o\" SET statement_timeout = '5s';"));
        assert!(sql.contains("GRANT pg_read_all_data TO \"r\";"));
        let alone = script(&PgOptions::default(), "postgres");
        assert!(alone.contains("CREATE DATABASE \"kovra\" OWNER \"postgres\";"));
    }
}
