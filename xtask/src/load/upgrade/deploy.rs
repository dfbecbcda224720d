//! The two builds of the upgrade phases and the deploy path the master runs
//! from: the example compiled twice in release with `HTTP_SERVER_VERSION=a` and
//! `=b` (read with `option_env!`, so cargo rebuilds the example only), copied to
//! `target/upgrade-builds/{a,b}`, and installed at `target/upgrade-builds/current`
//! the way a deployment does it: written next to it, then renamed over it, so
//! the path always holds a whole program (the running master keeps its old
//! inode). The failure cases install what a broken deployment leaves there: a
//! file that is not executable, nothing, or a shell script.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::bench::setup::{build_release_example, target_dir};
use crate::load::Example;

/// The two versions, in the order the upgrades alternate from.
pub(crate) const VERSIONS: [&str; 2] = ["a", "b"];

/// The builds and the deploy path.
pub(crate) struct Deploy {
    /// `target/upgrade-builds`.
    dir: PathBuf,
    /// The path the master is started from and upgrades to.
    pub(crate) current: PathBuf,
}

impl Deploy {
    /// Builds `example` once per version (release, with its features) and copies
    /// each binary out of cargo's way.
    pub(crate) fn build(example: Example) -> Result<Deploy, String> {
        let dir = target_dir().join("upgrade-builds");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for version in VERSIONS {
            let env = [("HTTP_SERVER_VERSION", version)];
            let built = build_release_example(example.name(), example.features(), &env)?;
            copy(&built, &dir.join(version), 0o755)?;
        }
        let current = dir.join("current");
        Ok(Deploy { dir, current })
    }

    /// The build of `version`.
    pub(crate) fn build_of(&self, version: &str) -> PathBuf {
        self.dir.join(version)
    }

    /// Installs the build of `version` at the deploy path.
    pub(crate) fn install(&self, version: &str) -> Result<(), String> {
        self.install_copy(&self.build_of(version), 0o755)
    }

    /// Installs the build of `version` without its execute bits.
    pub(crate) fn install_not_executable(&self, version: &str) -> Result<(), String> {
        self.install_copy(&self.build_of(version), 0o644)
    }

    /// Installs a shell script: `#!/bin/sh` and `body`.
    pub(crate) fn install_script(&self, body: &str) -> Result<(), String> {
        let tmp = self.tmp();
        std::fs::write(&tmp, format!("#!/bin/sh\n{body}\n"))
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        chmod(&tmp, 0o755)?;
        self.rename(&tmp)
    }

    /// Leaves nothing at the deploy path.
    pub(crate) fn remove(&self) -> Result<(), String> {
        match std::fs::remove_file(&self.current) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("{}: {e}", self.current.display())),
        }
    }

    fn install_copy(&self, from: &Path, mode: u32) -> Result<(), String> {
        let tmp = self.tmp();
        copy(from, &tmp, mode)?;
        self.rename(&tmp)
    }

    /// Written next to the deploy path: a rename within one directory is atomic.
    fn tmp(&self) -> PathBuf {
        self.dir.join("current.new")
    }

    fn rename(&self, tmp: &Path) -> Result<(), String> {
        std::fs::rename(tmp, &self.current).map_err(|e| {
            format!(
                "cannot rename {} to {}: {e}",
                tmp.display(),
                self.current.display()
            )
        })
    }
}

/// Copies `from` to a new file `to` (an old one is removed first: the running
/// master may be executing it) with permissions `mode`.
fn copy(from: &Path, to: &Path, mode: u32) -> Result<(), String> {
    match std::fs::remove_file(to) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", to.display())),
    }
    std::fs::copy(from, to)
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
    chmod(to, mode)
}

fn chmod(path: &Path, mode: u32) -> Result<(), String> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_by_rename_and_removes() {
        let dir = target_dir().join("upgrade-deploy-test");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a"), "build a").unwrap();
        let deploy = Deploy {
            current: dir.join("current"),
            dir: dir.clone(),
        };
        deploy.install("a").unwrap();
        assert_eq!(std::fs::read_to_string(&deploy.current).unwrap(), "build a");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&deploy.current), 0o755);
        deploy.install_not_executable("a").unwrap();
        assert_eq!(mode(&deploy.current), 0o644);
        deploy.install_script("exit 3").unwrap();
        let script = std::fs::read_to_string(&deploy.current).unwrap();
        assert_eq!(
            (script.as_str(), mode(&deploy.current)),
            ("#!/bin/sh\nexit 3\n", 0o755)
        );
        assert!(!deploy.tmp().exists());
        deploy.remove().unwrap();
        deploy.remove().unwrap();
        assert!(!deploy.current.exists());
        assert!(deploy.install("none").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
