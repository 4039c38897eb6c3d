//! Test support: a real PostgreSQL server started from the Debian `postgresql` package's
//! binaries (`initdb`, `pg_ctl`) in a temporary directory on a free loopback port, stopped
//! and deleted when the [`PgServer`] is dropped.
//!
//! No mock and no skipping: when the binaries are missing, [`PgServer::start`] fails with an
//! error naming the package to install (`apt-get install postgresql`, done by `.ci/setup`).
//!
//! `initdb` and `postgres` refuse to run as root, and the tests (here and in CI) run as
//! root, so when the current user is root the server is run as the `postgres` system user
//! (which the Debian package creates) through `runuser`, with the data directory chowned
//! to it. As any other user the binaries run as that user directly.
#![deny(missing_docs)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use thiserror::Error;

/// Where Debian installs the server binaries: `/usr/lib/postgresql/<major>/bin`.
const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";
/// The system user the Debian package creates; the server runs as it when we are root.
const PG_SYSTEM_USER: &str = "postgres";
/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a test server could not be started.
#[derive(Debug, Error)]
pub enum HarnessError {
    /// The PostgreSQL server binaries are not installed.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found under {DEBIAN_PG_ROOT}/*/bin: \
         install the Debian package `postgresql` (apt-get install postgresql; .ci/setup does it)"
    )]
    Missing,
    /// A setup step failed.
    #[error("PostgreSQL test server: {step} failed: {detail}")]
    Step {
        /// What was being done.
        step: &'static str,
        /// Exit status and output, or the I/O error.
        detail: String,
    },
}

/// How the throw-away server is tuned.
#[derive(Debug, Clone, Copy)]
pub struct PgOptions {
    /// `fsync=off`, `synchronous_commit=off`, `full_page_writes=off`: much faster, and only
    /// for tests that are not about durability (a crash test of the *server* needs `false`;
    /// a crashed dialsync worker does not lose committed transactions either way).
    pub fast_unsafe: bool,
    /// `max_connections`.
    pub max_connections: u32,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            fast_unsafe: true,
            max_connections: 100,
        }
    }
}

/// A running throw-away PostgreSQL server (superuser `postgres`, trust authentication on
/// 127.0.0.1 only). Stopped (`pg_ctl stop -m immediate`) and deleted on drop.
pub struct PgServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServer")
            .field("port", &self.port)
            .field("data", &self.data_dir())
            .finish()
    }
}

/// The newest `/usr/lib/postgresql/<major>/bin` holding `initdb` and `pg_ctl`.
fn find_bin_dir() -> Result<PathBuf, HarnessError> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_PG_ROOT)
        .map_err(|_| HarnessError::Missing)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or(HarnessError::Missing)
}

fn is_root() -> bool {
    // `id -u` rather than libc: the harness needs no unsafe code.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16, HarnessError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| HarnessError::Step {
            step: "finding a free port",
            detail: e.to_string(),
        })
}

fn describe(output: &Output) -> String {
    format!(
        "{}: {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    )
}

impl PgServer {
    /// Starts a server with [`PgOptions::default`] (fast, not crash-safe).
    pub fn start() -> Result<PgServer, HarnessError> {
        PgServer::start_with(PgOptions::default())
    }

    /// Starts a server: `initdb` into a new temporary directory, then `pg_ctl start` on a
    /// free loopback port, waiting until it accepts connections.
    pub fn start_with(options: PgOptions) -> Result<PgServer, HarnessError> {
        let bin = find_bin_dir()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("dialsync-pg-")
            .tempdir()
            .map_err(|e| HarnessError::Step {
                step: "creating the data directory",
                detail: e.to_string(),
            })?;
        let mut server = PgServer {
            bin,
            dir,
            port: 0,
            as_postgres,
        };
        if as_postgres {
            // The temp dir is root's (mode 0700): hand it to the server's user.
            let out = Command::new("chown")
                .arg("-R")
                .arg(format!("{PG_SYSTEM_USER}:"))
                .arg(server.dir.path())
                .output();
            server.check("chown of the data directory to postgres", out)?;
        }
        let data = server.data_dir();
        let out = server
            .command("initdb")
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .arg("-D")
            .arg(&data)
            .output();
        server.check("initdb", out)?;
        let mut conf = format!(
            "listen_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nmax_connections = {}\n",
            server.dir.path().display(),
            options.max_connections
        );
        if options.fast_unsafe {
            conf.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, conf.as_bytes()))
            .map_err(|e| HarnessError::Step {
                step: "writing postgresql.conf",
                detail: e.to_string(),
            })?;
        // A port can be taken between finding it and binding it: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port()?;
            let log = server.dir.path().join("server.log");
            let out = server
                .command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .arg("-o")
                .arg(format!("-p {}", server.port))
                .args(["-w", "-t"])
                .arg(START_TIMEOUT.as_secs().to_string())
                .arg("start")
                .output();
            match out {
                Ok(o) if o.status.success() => return server.wait_ready(),
                Ok(o) => {
                    last = format!(
                        "{}; log: {}",
                        describe(&o),
                        std::fs::read_to_string(&log).unwrap_or_default()
                    )
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(HarnessError::Step {
            step: "pg_ctl start",
            detail: last,
        })
    }

    fn wait_ready(self) -> Result<PgServer, HarnessError> {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(self);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(HarnessError::Step {
            step: "waiting for the server",
            detail: format!("port {} not open after {START_TIMEOUT:?}", self.port),
        })
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A command running `program` from the server's bin dir, as `postgres` when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", PG_SYSTEM_USER, "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn check(&self, step: &'static str, out: std::io::Result<Output>) -> Result<(), HarnessError> {
        match out {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(HarnessError::Step {
                step,
                detail: describe(&o),
            }),
            Err(e) => Err(HarnessError::Step {
                step,
                detail: e.to_string(),
            }),
        }
    }

    /// The TCP port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A `postgres://` URL for the superuser and the `postgres` database.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// A `postgres://` URL for database `db` (create it with [`PgServer::create_database`]).
    pub fn url_for(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new, empty database (one per test keeps tests on one server independent).
    pub fn create_database(&self, name: &str) -> Result<String, HarnessError> {
        let out = self
            .command("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-q"])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-c")
            .arg(format!("CREATE DATABASE \"{name}\""))
            .output();
        self.check("CREATE DATABASE", out)?;
        Ok(self.url_for(name))
    }

    /// The server's data directory (for tests that look at the server's log).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.port != 0 {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_accepts_connections_and_stops_on_drop() {
        let server = PgServer::start().expect("PostgreSQL test server");
        let port = server.port();
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        let url = server.create_database("harness_check").unwrap();
        assert!(url.ends_with("/harness_check"), "{url}");
        drop(server);
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "the server stops on drop"
        );
    }
}
