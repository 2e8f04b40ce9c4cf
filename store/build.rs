// `sqlx::migrate!` embeds the migration files at compile time; rebuild when
// they change, which cargo would not notice on its own.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
