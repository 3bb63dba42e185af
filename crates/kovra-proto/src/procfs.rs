//! Facts one kovra process reads about another from `/proc`: who holds a lock, who traces
//! whom. Pure parsers over the files' text, shared by the client and the daemon.

/// `TracerPid` from a `/proc/PID/status` text.
pub fn tracer_pid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// `TracerPid` of this process (0 when nobody traces it; `None` if it cannot be read).
pub fn own_tracer() -> Option<u32> {
    tracer_pid(&read("/proc/self/status").ok()?)
}

/// A `/proc` text file, read whole. `/proc` reports a size of 0, so `read_to_string` on a
/// `File` would ask for the size first (`fstat`, `lseek`) and then start small; read through
/// `take`, which asks nothing, into a buffer sized for the usual file: an open, two reads and
/// a close. Every `kovra` start reads two of these (its own and its daemon's `status`).
pub fn read(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::with_capacity(4096);
    std::fs::File::open(path)?
        .take(u64::MAX)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// The pids holding an exclusive `flock` on the file `(dev, ino)`, from a `/proc/locks`
/// text. Lines look like `1: FLOCK  ADVISORY  WRITE 4242 fe:00:1234 0 EOF`; waiters are
/// marked `->` and hold nothing.
pub fn flock_holders(locks: &str, dev: u64, ino: u64) -> Vec<u32> {
    // glibc's encoding of a dev_t (major in bits 8-19 and 32-63, minor in 0-7 and 20-31).
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff);
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff);
    locks
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(1) == Some(&"->") || fields.get(1) != Some(&"FLOCK") {
                return None;
            }
            if fields.get(3) != Some(&"WRITE") {
                return None;
            }
            let pid: u32 = fields.get(4)?.parse().ok()?;
            let mut id = fields.get(5)?.split(':');
            let maj = u64::from_str_radix(id.next()?, 16).ok()?;
            let min = u64::from_str_radix(id.next()?, 16).ok()?;
            let file: u64 = id.next()?.parse().ok()?;
            // Anonymous devices (major 0: btrfs subvolumes, overlayfs) may show the
            // superblock's number here and another one to `stat`: match the inode there.
            let same_dev = (maj == major && min == minor) || (maj == 0 && major == 0);
            (same_dev && file == ino).then_some(pid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flock_holders_and_skips_waiters() {
        let dev = 0xfe00; // major 0xfe, minor 0
        let locks = "1: FLOCK  ADVISORY  WRITE 11799 fe:00:10010873 0 EOF\n\
                     1: -> FLOCK  ADVISORY  WRITE 12000 fe:00:10010873 0 EOF\n\
                     2: POSIX  ADVISORY  WRITE 300 fe:00:10010873 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 400 fe:01:10010873 0 EOF\n\
                     4: FLOCK  ADVISORY  READ 500 fe:00:10010873 0 EOF\n";
        assert_eq!(flock_holders(locks, dev, 10010873), vec![11799]);
        assert!(flock_holders(locks, dev, 1).is_empty());
        // btrfs: the superblock's anonymous device in /proc/locks, the subvolume's in stat.
        let btrfs = "1: FLOCK  ADVISORY  WRITE 77 00:2a:261 0 EOF\n";
        assert_eq!(flock_holders(btrfs, 0x30, 261), vec![77]);
        assert!(flock_holders(btrfs, 0x30, 262).is_empty());
    }

    #[test]
    fn reads_the_tracer() {
        assert_eq!(tracer_pid("Name:\tkovra\nTracerPid:\t0\n"), Some(0));
        assert_eq!(tracer_pid("TracerPid:\t812\n"), Some(812));
        assert_eq!(tracer_pid("Name:\tx\n"), None);
    }

    #[test]
    fn reads_a_proc_file_whole_however_long() {
        let status = read("/proc/self/status").unwrap();
        assert!(status.starts_with("Name:") && status.ends_with('\n'));
        assert_eq!(tracer_pid(&status), Some(0));
        // Longer than the first buffer: grown, nothing lost.
        let path = std::env::temp_dir().join(format!("kovra-procfs-{}", std::process::id()));
        let long: String = (0..2000).map(|i| format!("{i}\n")).collect();
        std::fs::write(&path, &long).unwrap();
        let back = read(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(back.unwrap(), long);
        assert!(read("/proc/self/no-such-file").is_err());
    }
}
