//! Running the helper programs that install or start a service.

use std::process::{Command, Stdio};

use crate::{Result, ServiceError};

/// Runs a command to completion; a non-zero exit is an error carrying its stderr.
pub(crate) fn run(service: &'static str, cmd: &mut Command) -> Result<()> {
    let described = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ServiceError::StartFailed { service, reason: format!("{described}: {e}") })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ServiceError::StartFailed {
            service,
            reason: format!("{described} exited with {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()),
        })
    }
}

pub(crate) fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// `apt-get install -y PKG`, refreshing the package lists first when the install fails on them.
pub(crate) fn apt_install(service: &'static str, package: &str) -> Result<()> {
    if !is_root() {
        return Err(ServiceError::StartFailed {
            service,
            reason: format!("{package} is not installed and installing it needs root"),
        });
    }
    let install = || {
        run(
            service,
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", package])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    install().or_else(|_| {
        run(service, Command::new("apt-get").arg("update"))?;
        install()
    })
}

pub(crate) fn which(program: &str, extra_dirs: &[&str]) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs.iter().map(std::path::PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
