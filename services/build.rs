// `sqlx::migrate!` embeds the migrations at compile time; rebuild when any of them is added or
// changed, or tests would run against a stale schema.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
