//! Rebuilds the service when a migration is added: `embed_migrations!` reads the migrations'
//! folders while compiling, and cargo does not otherwise know a new folder matters.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
