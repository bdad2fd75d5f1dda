//! Where the API cookie ([`ApiCookie`], 32 random bytes) is kept: written at start to
//! `<data-dir>/api.cookie`, readable by the node's user only (as Tor's control port and
//! bitcoind do). A connection must present it before any call, so neither a web page
//! (which cannot read the file) nor another user's process can drive the account.

use std::path::{Path, PathBuf};
use thiserror::Error;
use wesh_client::app::ApiCookie;
use zeroize::Zeroizing;

/// The cookie's file name in the data directory.
pub const COOKIE_FILE: &str = "api.cookie";
/// The environment variable a CLI or app may carry the cookie (hex) in instead.
pub const COOKIE_ENV: &str = "WESH_API_COOKIE";

#[derive(Debug, Error)]
pub enum CookieError {
    #[error("cannot write the API cookie {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot read the API cookie {}: {source} (give the running `wesh client`'s --data-dir, or set {COOKIE_ENV})",
        path.display()
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Malformed(#[from] wesh_client::app::api_cookie::MalformedCookie),
}

/// The cookie's life in files and the environment.
pub trait CookieFile: Sized {
    /// A fresh random cookie.
    fn generate() -> Self;
    /// Writes it to `<dir>/api.cookie`, mode 0600, replacing an old one atomically (a
    /// reader never sees half a cookie).
    fn write_to_dir(&self, dir: &Path) -> Result<PathBuf, CookieError>;
    /// The cookie of the node whose data directory is `dir`.
    fn read_from_dir(dir: &Path) -> Result<Self, CookieError>;
    /// The cookie a CLI uses: `WESH_API_COOKIE` when set, else the data directory's file.
    fn for_cli(dir: &Path) -> Result<Self, CookieError>;
}

impl CookieFile for ApiCookie {
    fn generate() -> Self {
        ApiCookie::from_bytes(rand::random())
    }

    fn write_to_dir(&self, dir: &Path) -> Result<PathBuf, CookieError> {
        use std::io::Write;
        let path = dir.join(COOKIE_FILE);
        let tmp = dir.join(format!("{COOKIE_FILE}.tmp"));
        let failed = |source| CookieError::Write {
            path: path.clone(),
            source,
        };
        let _ = std::fs::remove_file(&tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(failed)?;
        file.write_all(self.to_hex().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(failed)?;
        std::fs::rename(&tmp, &path).map_err(failed)?;
        Ok(path)
    }

    fn read_from_dir(dir: &Path) -> Result<Self, CookieError> {
        let path = dir.join(COOKIE_FILE);
        let text = Zeroizing::new(
            std::fs::read_to_string(&path).map_err(|source| CookieError::Read { path, source })?,
        );
        Ok(ApiCookie::from_hex(&text)?)
    }

    fn for_cli(dir: &Path) -> Result<Self, CookieError> {
        match std::env::var(COOKIE_ENV) {
            Ok(text) => Ok(ApiCookie::from_hex(&Zeroizing::new(text))?),
            Err(_) => ApiCookie::read_from_dir(dir),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn written_cookie_reads_back_owner_only_and_matches_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let c = ApiCookie::generate();
        let path = c.write_to_dir(dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let back = ApiCookie::read_from_dir(dir.path()).unwrap();
        assert!(c.matches(&back.to_hex()));
        assert!(!c.matches(&ApiCookie::generate().to_hex()));
        // a restart replaces it
        let d = ApiCookie::generate();
        d.write_to_dir(dir.path()).unwrap();
        assert!(d.matches(&ApiCookie::read_from_dir(dir.path()).unwrap().to_hex()));
        assert!(matches!(
            ApiCookie::read_from_dir(&dir.path().join("none")),
            Err(CookieError::Read { .. })
        ));
    }
}
