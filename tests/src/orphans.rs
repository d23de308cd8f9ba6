//! Cleaning up after test processes that died without dropping their servers: each
//! harness keeps a server's files in `<tmp>/<prefix><owner pid>-<unique>`, so a
//! directory whose owner is gone belongs to nobody.

use std::path::Path;
use std::process::Command;

/// Kills the servers left by test processes that are gone, and removes their
/// directories. A server is named by a pid file in the directory (`pid_files`) and is
/// killed only when `still_there(pid, dir)` says that pid is still that server (pids
/// are reused).
pub fn reap_orphans(prefix: &str, pid_files: &[&str], still_there: impl Fn(&str, &Path) -> bool) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix) else { continue };
        let Some((owner, _)) = rest.split_once('-') else { continue };
        let Ok(owner) = owner.parse::<u32>() else { continue };
        if Path::new(&format!("/proc/{owner}")).exists() {
            continue; // its test process still runs
        }
        let dir = entry.path();
        for file in pid_files {
            let Ok(pid) = std::fs::read_to_string(dir.join(file)) else { continue };
            let pid = pid.trim();
            if !pid.is_empty() && still_there(pid, &dir) {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Whether process `pid` runs in `dir` (its working directory).
pub fn works_in(pid: &str, dir: &Path) -> bool {
    std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir)
}
