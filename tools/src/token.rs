//! API tokens for the HTTP benchmarks (`cpd-hub-bench bench-token --role ROLE`).

use cpd_hub::db::{write_tx, DbConn};
use cpd_hub::domain::roles::Role;
use cpd_hub::store::people::{self, NewPerson};
use cpd_hub::store::tokens;

/// Makes (or finds) a benchmark person holding `role` and returns a new API token for them:
/// `bench.<role>@national.example`.
pub fn bench_token(conn: &mut DbConn, role: Role) -> anyhow::Result<String> {
    let email = format!("bench.{}@national.example", role.as_str().replace('_', "-"));
    let found = people::find_id_by_email(conn, &email)?;
    let person_id = match found {
        Some(id) => id,
        None => write_tx(conn, |c| {
            people::insert(
                c,
                &NewPerson {
                    name: format!("Benchmark {}", role.as_str().replace('_', " ")),
                    email: email.clone(),
                    school_id: None,
                    staff_group_id: None,
                    roles: vec![role],
                },
            )
        })?,
    };
    let (_, token) = tokens::create(conn, &person_id, "benchmark", None)?;
    Ok(token)
}
