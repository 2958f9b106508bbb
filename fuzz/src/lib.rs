//! Helpers shared by the fuzz targets in `fuzz_targets/` (one binary each).
//!
//! Every target feeds arbitrary bytes to one of corral's decoders of outside
//! input and checks what the decoder promises: no panic, and where it says so
//! (a streaming decoder that consumes nothing until a whole record is there,
//! an encoder that is the decoder's inverse) that property too.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A directory of this process's own, for the decoders that read or write a
/// file: `corral-fuzz-<pid>` under `$CORRAL_FUZZ_SCRATCH` (scripts/fuzz.sh
/// makes one on tmpfs and removes it) or else the system's temp directory.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::var_os("CORRAL_FUZZ_SCRATCH")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("corral-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory for the fuzz target");
        dir
    })
}

/// Config files are Latin-1 to `java.util.Properties` and UTF-8 to people:
/// the text `config::load` reads from `bytes` (UTF-8 when valid, else
/// Latin-1).
pub fn config_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}
