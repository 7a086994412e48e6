//! What the benchmark learns about the machine from `/proc` (read through the [`Fs`] seam;
//! reading is not writing): resident memory, the CPU, the kernel, and the filesystem the
//! benchmark directory lives on. Everything is best effort: off Linux it is `None`.

use std::path::Path;

use serde::Serialize;

use kv_engine::fs::Fs;

/// The machine a report was measured on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Machine {
    /// Logical CPUs this process may use.
    pub cpus: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// The kernel release.
    pub kernel: Option<String>,
    /// Total RAM in bytes.
    pub memory_bytes: Option<u64>,
    /// The type of the filesystem holding the benchmark directory (`ext4`, `tmpfs`, ...).
    pub filesystem: Option<String>,
    /// The benchmark directory's parent: where the run's temporary directory was made.
    pub dir: String,
}

impl Machine {
    /// Describes this machine, with `dir` the directory the benchmark writes in.
    pub fn describe(fs: &dyn Fs, dir: &Path) -> Machine {
        let text = |path: &str| {
            fs.read(Path::new(path))
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
        };
        let cpu_model = text("/proc/cpuinfo").and_then(|info| {
            info.lines()
                .find_map(|line| field(line, "model name"))
                .map(str::to_string)
        });
        let memory_bytes = text("/proc/meminfo")
            .and_then(|info| info.lines().find_map(|line| kib_field(line, "MemTotal")));
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            kernel: text("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()),
            memory_bytes,
            filesystem: text("/proc/self/mounts").and_then(|mounts| filesystem_of(&mounts, dir)),
            dir: dir.display().to_string(),
        }
    }
}

/// This process's resident anonymous memory in bytes (`RssAnon` of `/proc/self/status`,
/// or `VmRSS` on kernels without it): the heap and stacks, not the pages of the binary's
/// code, which the first open in a fresh process faults in (~130–200 KiB, the whole
/// figure for a small store).
pub fn resident_bytes(fs: &dyn Fs) -> Option<u64> {
    let status = fs.read(Path::new("/proc/self/status")).ok()?;
    let status = String::from_utf8(status).ok()?;
    let field = |name| status.lines().find_map(|line| kib_field(line, name));
    field("RssAnon").or_else(|| field("VmRSS"))
}

/// The value of `name: value` lines as in `/proc/cpuinfo`.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let (key, value) = line.split_once(':')?;
    (key.trim() == name).then(|| value.trim())
}

/// A `Name:   1234 kB` line of `/proc/self/status` or `/proc/meminfo`, in bytes.
fn kib_field(line: &str, name: &str) -> Option<u64> {
    let value = field(line, name)?;
    let kib: u64 = value.strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// The filesystem type of the mount that holds `dir`, from the text of `/proc/self/mounts`:
/// the mount point that is the longest prefix of `dir` (compared by whole components).
fn filesystem_of(mounts: &str, dir: &Path) -> Option<String> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _device = fields.next()?;
            // Spaces in mount points are written as \040.
            let mount_point = fields.next()?.replace("\\040", " ");
            let fs_type = fields.next()?;
            dir.starts_with(&mount_point)
                .then(|| (Path::new(&mount_point).components().count(), fs_type))
        })
        // Later mounts hide earlier ones at the same point, so ties go to the last.
        .max_by_key(|(depth, _)| *depth)
        .map(|(_, fs_type)| fs_type.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filesystem_is_the_longest_mount_prefix() {
        let mounts = "/dev/vda / ext4 rw 0 0\n\
                      tmpfs /tmp tmpfs rw 0 0\n\
                      tmpfs /tmpfoo tmpfs rw 0 0\n\
                      /dev/vdb /work/data\\040disk xfs rw 0 0\n";
        let fs_of = |dir: &str| filesystem_of(mounts, Path::new(dir));
        assert_eq!(fs_of("/tmp/kv-bench-1").as_deref(), Some("tmpfs"));
        assert_eq!(fs_of("/tmpx").as_deref(), Some("ext4"));
        assert_eq!(fs_of("/work/data disk/x").as_deref(), Some("xfs"));
        assert_eq!(fs_of("/home").as_deref(), Some("ext4"));
        assert_eq!(filesystem_of("", Path::new("/")), None);
    }

    #[test]
    fn kib_fields_parse_to_bytes() {
        assert_eq!(kib_field("VmRSS:\t    2048 kB", "VmRSS"), Some(2048 * 1024));
        assert_eq!(kib_field("VmHWM:\t    2048 kB", "VmRSS"), None);
        assert_eq!(kib_field("VmRSS:\t    lots kB", "VmRSS"), None);
        assert_eq!(
            field("model name\t: AMD EPYC", "model name"),
            Some("AMD EPYC")
        );
    }
}
