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
use super::{Listing, Record, Result, StoreError, UnlockedStore};
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

    /// [`list`](Self::list) without a copy: the kept listing itself, opened on first use.
    pub fn list_shared(&mut self, vault: &VaultName) -> Result<Arc<Listing>> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if version != self.listed.data_version {
            // Another connection committed: nothing kept may be trusted.
            self.forget_listings();
            self.listed.data_version = version;
        }
        let vlookup = self.vault_lookup(vault);
        if let Some(kept) = self.listed.vaults.get(&vlookup) {
            return Ok(Arc::clone(kept));
        }
        let listing = Arc::new(self.open_listing(vault)?);
        self.listed.vaults.insert(vlookup, Arc::clone(&listing));
        Ok(listing)
    }

    /// Forget every kept listing (the file changed under us, or the keys were rotated).
    pub(super) fn forget_listings(&mut self) {
        self.listed.vaults.clear();
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

/// Every record of a listing rendered by one function, in the listing's order, in one
/// buffer: reading them back in order is a sequential copy, where the records themselves
/// are a few scattered heap strings each.
#[derive(Default, Clone)]
pub struct Rendered {
    bytes: Vec<u8>,
    /// Where each record's bytes end in `bytes`.
    ends: Vec<usize>,
}

impl Rendered {
    /// The bytes of the record at `index` in the listing.
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        let end = *self.ends.get(index)?;
        let start = index.checked_sub(1).map_or(0, |i| self.ends[i]);
        self.bytes.get(start..end)
    }

    /// How many bytes the rendering holds (its buffer and its index).
    pub fn size(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }
}

impl fmt::Debug for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rendered")
            .field("records", &self.ends.len())
            .field("bytes", &self.bytes.len())
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
                bytes: Vec::new(),
                ends: Vec::with_capacity(self.records.len()),
            };
            for record in &self.records {
                render(record, &mut out.bytes);
                out.ends.push(out.bytes.len());
            }
            out.bytes.shrink_to_fit();
            out
        })
    }

    /// The rendering, if a reader made one.
    pub fn rendering(&self) -> Option<&Rendered> {
        self.rendered.get()
    }
}
