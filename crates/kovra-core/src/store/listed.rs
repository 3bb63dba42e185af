//! Listing a vault: every record's current metadata, opened once and kept.
//!
//! Opening a listing costs a keyed lookup and an AEAD open per record; a vault of 100,000
//! records took seconds per `list`. The opened listing is kept (plain, see [`Listed`]) and
//! handed out shared until it can be stale:
//! - every write that changes a record (add, set, rm, mv, rename, rollback, import, receive)
//!   goes through `UnlockedStore::write`, which forgets the listing of each vault whose
//!   records its transaction changed (a write to the system vault's settings leaves the
//!   others kept); a key rotation forgets them all;
//! - a change by another connection (the file edited outside kovra) moves SQLite's
//!   `data_version`, which is checked on each list, so tampering is still seen at once;
//! - locking drops the store and the listings with it.
//!
//! A request that reads many rows (a run deciding on and opening 20 records) may read them
//! all from one snapshot ([`UnlockedStore::begin_reads`]): one SQLite read transaction, so
//! the WAL read lock (two `fcntl` calls on its shared-memory file per statement) and the
//! `data_version` check are taken once instead of per row.
//!
//! A kept listing can also carry each record rendered once by its reader ([`Rendered`]):
//! the daemon keeps each record's JSON there, so a list writes pages by copying bytes
//! instead of walking 100,000 records' scattered strings again. It lives and dies with the
//! listing, so whatever forgets or drops a listing forgets its rendering too.
//!
//! [`Listed`]: super::Listed

use std::fmt;
use std::sync::Arc;

use super::layout;
use super::unlocked::lookup_from;
use super::{Listing, Record, Result, Snapshot, StoreError, UnlockedStore};
use crate::model::VaultName;

impl UnlockedStore {
    /// The current metadata of every record in one vault, sorted by path.
    pub fn list(&mut self, vault: &VaultName) -> Result<Listing> {
        let shared = self.list_shared(vault)?;
        Ok(Listing {
            records: shared.records.clone(),
            tampered: shared.tampered,
            missing: shared.missing,
            rendered: Default::default(),
        })
    }

    /// [`list`](Self::list) without a copy: the kept listing itself (the daemon opens every
    /// vault's at unlock; one a write made stale is opened again here).
    pub fn list_shared(&mut self, vault: &VaultName) -> Result<Arc<Listing>> {
        self.check_data_version()?;
        let vlookup = self.vault_lookup(vault);
        if let Some(kept) = self.listed.vaults.get(&vlookup) {
            return Ok(Arc::clone(kept));
        }
        let listing = Arc::new(self.open_listing(vault)?);
        self.listed.vaults.insert(vlookup, Arc::clone(&listing));
        Ok(listing)
    }

    /// A record's current metadata from its vault's kept listing, if that vault has one
    /// (`None` otherwise: the caller reads the file). Every `run` decides on each of its
    /// records' metadata before it opens their values; taking it from here spares a row read
    /// and an AEAD open per record, and it is what that read would return: the listing was
    /// opened from the same rows against the same index, and is forgotten by any write.
    pub(super) fn kept_record(
        &mut self,
        vault: &VaultName,
        coord: &crate::coord::Coordinate,
    ) -> Result<Option<Record>> {
        self.check_data_version()?;
        let Some(listing) = self.listed.vaults.get(&self.vault_lookup(vault)) else {
            return Ok(None);
        };
        let records = &listing.records;
        Ok(records
            .binary_search_by(|r| r.meta.coordinate.path_cmp(coord))
            .ok()
            .map(|i| records[i].clone()))
    }

    /// Read from one snapshot until [`end_reads`](Self::end_reads) or the next write (which
    /// ends it first): what other connections commit meanwhile is not seen, and nothing
    /// else differs. A snapshot left open (a request that panicked) is ended here first.
    pub fn begin_reads(&mut self) -> Result<()> {
        self.end_reads();
        self.conn.execute_batch("BEGIN DEFERRED")?;
        self.listed.snapshot = Snapshot::Open;
        Ok(())
    }

    /// End a snapshot [`begin_reads`](Self::begin_reads) opened, if one is open.
    pub fn end_reads(&mut self) {
        self.listed.snapshot = Snapshot::None;
        if !self.conn.is_autocommit() {
            // A read transaction: ending it cannot lose anything.
            let _ = self.conn.execute_batch("COMMIT");
        }
    }

    /// Forget every kept listing when another connection committed since they were read:
    /// nothing kept may then be trusted. Inside a snapshot, once is enough.
    pub(super) fn check_data_version(&mut self) -> Result<()> {
        if self.listed.snapshot == Snapshot::Checked {
            return Ok(());
        }
        let version: i64 = self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        if version != self.listed.data_version {
            self.forget_listings();
            self.listed.data_version = version;
        }
        if self.listed.snapshot == Snapshot::Open {
            self.listed.snapshot = Snapshot::Checked;
        }
        Ok(())
    }

    /// Forget every kept listing (the file changed under us, or the keys were rotated).
    pub(super) fn forget_listings(&mut self) {
        self.listed.vaults.clear();
        self.listed.absent.clear();
    }

    /// Whether `vault` was found missing since the file last changed.
    pub(super) fn known_absent(&mut self, vault: &super::Lookup) -> Result<bool> {
        if self.listed.absent.is_empty() {
            return Ok(false);
        }
        self.check_data_version()?;
        Ok(self.listed.absent.contains(vault))
    }

    /// Remember that `vault` is missing (until the file changes or it is created).
    pub(super) fn note_absent(&mut self, vault: super::Lookup, present: bool) {
        if present {
            self.listed.absent.remove(&vault);
        } else {
            self.listed.absent.insert(vault);
        }
    }

    /// Forget one vault's kept listing (a write changed one of its records).
    pub(super) fn forget_listing(&mut self, vault: &super::Lookup) {
        self.listed.vaults.remove(vault);
    }

    /// Read and open one vault's listing from the file.
    fn open_listing(&mut self, vault: &VaultName) -> Result<Listing> {
        let Some((vlookup, dek)) = self.dek(vault)? else {
            return match vault {
                VaultName::Project(p) => Err(StoreError::UnknownProject(p.clone())),
                VaultName::Global | VaultName::System => Ok(Listing::default()),
            };
        };
        let mut listing = Listing::default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.lookup, r.version, v.meta FROM records r
             LEFT JOIN versions v ON v.record = r.lookup AND v.version = r.version
             WHERE r.vault = ?1",
        )?;
        let mut seen = 0usize;
        let mut rows = stmt.query([vlookup.as_slice()])?;
        while let Some(row) = rows.next()? {
            seen += 1;
            let rlookup = lookup_from(row.get(0)?)?;
            let version = row.get::<_, i64>(1)? as u64;
            let sealed_meta: Option<Vec<u8>> = row.get(2)?;
            let authentic = self.index.get(&rlookup) == Some(&(vlookup, version));
            let meta = sealed_meta.filter(|_| authentic).and_then(|sealed| {
                let slot = self.slot(&vlookup, &rlookup, version);
                let meta = layout::open_meta(&dek, &slot, &sealed).ok()?;
                let expected = self.record_lookup(vault, &meta.coordinate);
                (meta.version == version && expected == rlookup).then_some(meta)
            });
            match meta {
                Some(meta) => listing.records.push(Record {
                    vault: vault.clone(),
                    meta,
                }),
                None => listing.tampered += 1,
            }
        }
        let known = self.index.values().filter(|(v, _)| *v == vlookup).count();
        listing.missing = known.saturating_sub(seen);
        listing
            .records
            .sort_by_cached_key(|r| r.meta.coordinate.path());
        // Copied once in their sorted order, each record's strings are allocated after the
        // previous record's rather than wherever the row order left them: every list walks
        // the kept records in this order (a decision each), and at 100,000 records a walk
        // that jumps around the heap spent most of its time waiting for memory.
        listing.records = listing.records.to_vec();
        Ok(listing)
    }
}

/// Every record of a listing rendered by one function, in the listing's order, in blocks
/// of contiguous bytes: reading them back in order is a sequential copy, where the records
/// themselves are a few heap strings each. Blocks of a fixed size, each allocated once,
/// rather than one buffer grown by doubling: no 30 MB of reallocations at the first list,
/// and nothing left behind in the allocator by them.
#[derive(Default, Clone)]
pub struct Rendered {
    blocks: Vec<Vec<u8>>,
    /// Per record, in order: its block, and where its bytes end in that block (they start
    /// where the previous record's end, or at 0 when it opens the block).
    spans: Vec<(usize, usize)>,
}

/// A block's size: 16,000 records of a vault of 100,000 fill about 256 KiB.
const BLOCK: usize = 256 << 10;

impl Rendered {
    /// The bytes of the record at `index` in the listing.
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        let (block, end) = *self.spans.get(index)?;
        let start = match index.checked_sub(1).and_then(|i| self.spans.get(i)) {
            Some(&(previous, start)) if previous == block => start,
            _ => 0,
        };
        self.blocks.get(block)?.get(start..end)
    }

    /// How many bytes the rendering holds (its blocks and its index).
    pub fn size(&self) -> usize {
        self.blocks.iter().map(Vec::capacity).sum::<usize>()
            + self.spans.capacity() * std::mem::size_of::<(usize, usize)>()
    }

    /// Append one record's bytes, in the current block if they fit, else in a new one.
    fn push(&mut self, bytes: &[u8]) {
        let fits = self
            .blocks
            .last()
            .is_some_and(|b| b.capacity() - b.len() >= bytes.len());
        if !fits {
            self.blocks.push(Vec::with_capacity(BLOCK.max(bytes.len())));
        }
        let block = self.blocks.len() - 1;
        if let Some(b) = self.blocks.last_mut() {
            b.extend_from_slice(bytes);
            self.spans.push((block, b.len()));
        }
    }
}

impl fmt::Debug for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rendered")
            .field("records", &self.spans.len())
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl Listing {
    /// Each record rendered by `render`, on the first call; later calls return that same
    /// rendering whatever `render` they pass, so a listing has one renderer (the daemon's
    /// streamed list). Concurrent first calls render once.
    pub fn rendered(&self, render: impl Fn(&Record, &mut Vec<u8>)) -> &Rendered {
        self.rendered.get_or_init(|| {
            let mut out = Rendered {
                blocks: Vec::new(),
                spans: Vec::with_capacity(self.records.len()),
            };
            let mut one = Vec::new();
            for record in &self.records {
                one.clear();
                render(record, &mut one);
                out.push(&one);
            }
            out
        })
    }

    /// The rendering, if a reader made one.
    pub fn rendering(&self) -> Option<&Rendered> {
        self.rendered.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_across_blocks_whatever_their_size() {
        // Small ones that fill several blocks, empty ones, and one larger than a block.
        let record = |i: usize| -> Vec<u8> {
            match i {
                7 => vec![b'x'; BLOCK + 3],
                i if i % 11 == 0 => Vec::new(),
                i => format!("{{\"record\":{i}}}").repeat(1 + i % 5).into_bytes(),
            }
        };
        let n = 20_000;
        let mut r = Rendered::default();
        for i in 0..n {
            r.push(&record(i));
        }
        assert!(r.blocks.len() > 3);
        for i in 0..n {
            assert_eq!(r.get(i), Some(record(i).as_slice()), "record {i}");
        }
        assert_eq!(r.get(n), None);
        assert!(r.size() >= r.blocks.iter().map(Vec::len).sum::<usize>());
    }
}
