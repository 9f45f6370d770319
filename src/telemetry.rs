use tracing_subscriber::EnvFilter;

/// Logs go to stdout for the long-running commands (`up`, `simulate`), where they are the
/// output, and to stderr for the others, whose stdout is their result (JSON, or figures).
pub fn init(filter: &str, to_stderr: bool) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    if to_stderr {
        builder.with_writer(std::io::stderr).init();
    } else {
        builder.init();
    }
}
