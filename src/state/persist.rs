//! The state file (`--state-file PATH`): every tenant, with its named snapshots, read at start
//! and written on a graceful stop and on `POST /_sandbox/save`.
//!
//! Format (JSON, versioned by `format`):
//! `{"kind": "masspay-sandbox-state", "format": 1, "written_by": "masspay-sandbox 0.1.0",
//!   "catalog": {…}, "issued_keys": […], "tenants": {"API KEY": {"state": {…}, "snapshots": {…}}}}`.
//! `catalog` names what the tenants' catalog indices pointed at when written (funding-account,
//! destination and requirement tokens, currency codes), so a file stays readable after the
//! fixtures gain or reorder entries; one naming an entry the fixtures no longer have is refused.
//!
//! Writing is atomic: a temporary file beside the target (mode 0600 on Unix: it holds API keys),
//! flushed to disk, then renamed over it. Reading refuses, naming the problem, a file that is not
//! JSON, not a state file, of another format or inconsistent with the fixtures — and such a file
//! is never overwritten, because the sandbox does not start.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::snapshots::{Named, SnapshotName};
use super::{CatalogRemap, Store, TenantSnapshot};
use crate::domain::catalog::Catalog;
use crate::limits::MAX_SNAPSHOTS_PER_TENANT;

/// What `kind` says in every state file.
pub const KIND: &str = "masspay-sandbox-state";
/// The format this build writes and reads. A new format keeps reading the old ones (and a test
/// reads a file of each older format, `tests/state_file.rs`).
pub const FORMAT: u64 = 1;

/// The catalog's names for the indices a snapshot holds.
#[derive(Serialize, Deserialize, PartialEq, Eq)]
pub struct CatalogNames {
    funding_accounts: Vec<String>,
    currencies: Vec<String>,
    requirements: Vec<String>,
    payers: Vec<PayerNames>,
}

#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct PayerNames {
    token: String,
    currencies: Vec<String>,
}

impl CatalogNames {
    pub fn of(catalog: &Catalog) -> Self {
        CatalogNames {
            funding_accounts: catalog
                .funding_accounts
                .iter()
                .map(|a| a.token.clone())
                .collect(),
            currencies: catalog
                .currencies
                .iter()
                .map(|c| c.code.to_string())
                .collect(),
            requirements: catalog
                .requirements
                .iter()
                .map(|r| r.token.clone())
                .collect(),
            payers: catalog
                .payers
                .iter()
                .map(|p| PayerNames {
                    token: p.token.clone(),
                    currencies: p.currencies.iter().map(|c| c.code.to_string()).collect(),
                })
                .collect(),
        }
    }
}

/// File indices → this catalog's, looked up by name (`None`: this catalog lacks it).
struct Remap<'a> {
    names: &'a CatalogNames,
    funding: Vec<Option<usize>>,
    currencies: Vec<Option<usize>>,
    requirements: Vec<Option<usize>>,
    payers: Vec<Option<(usize, Vec<Option<u16>>)>>,
}

impl<'a> Remap<'a> {
    fn new(names: &'a CatalogNames, catalog: &Catalog) -> Self {
        let position = |list: &[String], name: &str| list.iter().position(|n| n == name);
        let now = CatalogNames::of(catalog);
        Remap {
            names,
            funding: names
                .funding_accounts
                .iter()
                .map(|n| position(&now.funding_accounts, n))
                .collect(),
            currencies: names
                .currencies
                .iter()
                .map(|n| position(&now.currencies, n))
                .collect(),
            requirements: names
                .requirements
                .iter()
                .map(|n| position(&now.requirements, n))
                .collect(),
            payers: names
                .payers
                .iter()
                .map(|p| {
                    let at = now.payers.iter().position(|q| q.token == p.token)?;
                    let codes = &now.payers[at].currencies;
                    let currencies = p
                        .currencies
                        .iter()
                        .map(|c| position(codes, c).and_then(|i| u16::try_from(i).ok()))
                        .collect();
                    Some((at, currencies))
                })
                .collect(),
        }
    }
}

fn lookup(
    map: &[Option<usize>],
    names: &[String],
    old: usize,
    what: &str,
) -> Result<usize, String> {
    match (map.get(old), names.get(old)) {
        (Some(Some(new)), _) => Ok(*new),
        (Some(None), Some(name)) => Err(format!("the fixtures no longer have the {what} {name}")),
        _ => Err(format!("{what} #{old} is not in the file's catalog")),
    }
}

impl CatalogRemap for Remap<'_> {
    fn funding(&self, old: usize) -> Result<usize, String> {
        lookup(
            &self.funding,
            &self.names.funding_accounts,
            old,
            "funding account",
        )
    }

    fn currency(&self, old: usize) -> Result<usize, String> {
        lookup(&self.currencies, &self.names.currencies, old, "currency")
    }

    fn requirement(&self, old: usize) -> Result<usize, String> {
        lookup(
            &self.requirements,
            &self.names.requirements,
            old,
            "attribute requirement",
        )
    }

    fn payer_currency(&self, payer: usize, currency: u16) -> Result<(usize, u16), String> {
        let names = self
            .names
            .payers
            .get(payer)
            .ok_or_else(|| format!("destination #{payer} is not in the file's catalog"))?;
        let (at, currencies) = self.payers[payer].as_ref().ok_or_else(|| {
            format!(
                "the fixtures no longer have the destination {}",
                names.token
            )
        })?;
        let code = names.currencies.get(usize::from(currency));
        match (currencies.get(usize::from(currency)), code) {
            (Some(Some(c)), _) => Ok((*at, *c)),
            (Some(None), Some(code)) => Err(format!(
                "the fixtures' destination {} no longer pays {code}",
                names.token
            )),
            _ => Err(format!(
                "currency #{currency} of destination {} is not in the file's catalog",
                names.token
            )),
        }
    }
}

#[derive(Serialize)]
struct FileOut<'a> {
    kind: &'static str,
    format: u64,
    written_by: String,
    catalog: CatalogNames,
    issued_keys: Vec<String>,
    tenants: BTreeMap<Arc<str>, TenantOut<'a>>,
}

#[derive(Serialize)]
struct TenantOut<'a> {
    state: TenantSnapshot,
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshots: Option<&'a Named>,
}

/// Just the fields that say what a file is (the rest is skipped over).
#[derive(Deserialize)]
struct Header {
    kind: Option<serde_json::Value>,
    format: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct FileIn {
    catalog: CatalogNames,
    #[serde(default)]
    issued_keys: Vec<String>,
    tenants: BTreeMap<String, TenantIn>,
}

#[derive(Deserialize)]
struct TenantIn {
    state: TenantSnapshot,
    #[serde(default)]
    snapshots: BTreeMap<String, TenantSnapshot>,
}

/// What a save wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    pub tenants: usize,
    pub bytes: u64,
}

/// An API key as messages show it: its first characters and its length.
fn key_hint(key: &str) -> String {
    let head: String = key.chars().take(4).collect();
    format!("{head}… ({} bytes)", key.len())
}

impl Store {
    pub fn state_file(&self) -> Option<&Path> {
        self.state_file.as_deref()
    }

    /// Makes `path` the state file (`--state-file`) and loads every tenant it holds (a missing
    /// or empty file: none); [`save_state_file`](Self::save_state_file) writes it. `scenario_known`
    /// says whether an activated scenario a tenant names still exists. Any problem is an `Err`
    /// naming the file and what is wrong; the file is left untouched. Returns the tenants read.
    pub fn open_state_file(
        &mut self,
        path: Option<PathBuf>,
        scenario_known: impl Fn(&str) -> bool,
    ) -> Result<usize, String> {
        self.state_file = path.clone();
        let Some(path) = path else {
            return Ok(0);
        };
        let shown = path.display();
        let refuse = |what: String| {
            format!("--state-file {shown}: {what}; the file was left as it is (fix or move it, or name another --state-file)")
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(refuse(format!(
                    "the directory {} does not exist",
                    dir.display()
                )));
            }
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(refuse(format!("cannot be read: {e}"))),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(0);
        }
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err(refuse(format!(
                "is not a masspay-sandbox state file (a JSON object with \"kind\": \"{KIND}\")"
            )));
        }
        let header: Header = serde_json::from_slice(&bytes).map_err(|e| {
            refuse(if e.is_data() {
                format!("is not a masspay-sandbox state file (a JSON object with \"kind\": \"{KIND}\"): {e}")
            } else {
                format!("is not valid JSON, it may be truncated or corrupt ({e})")
            })
        })?;
        if header.kind.as_ref().and_then(|k| k.as_str()) != Some(KIND) {
            return Err(refuse(format!(
                "is not a masspay-sandbox state file (it has no \"kind\": \"{KIND}\")"
            )));
        }
        match header.format.as_ref().and_then(|f| f.as_u64()) {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(refuse(format!(
                    "is in format {other}, which this build does not read (it reads format {FORMAT}); it was written by another version of masspay-sandbox"
                )))
            }
            None => return Err(refuse("has no numeric \"format\"".into())),
        }
        let file: FileIn = crate::json_path::from_slice(&bytes).map_err(|e| {
            // The path names tenants by API key: show only a hint of it.
            let mut path = Vec::new();
            let mut after_tenants = false;
            for segment in &e.path {
                let text = match segment {
                    crate::json_path::Segment::Key(key) if after_tenants => key_hint(key),
                    other => other.to_string(),
                };
                after_tenants = text == "tenants";
                path.push(text);
            }
            refuse(format!("is corrupt at {}: {}", path.join("."), e.inner))
        })?;
        let catalog = Arc::clone(&self.catalog);
        let same = file.catalog == CatalogNames::of(&catalog);
        let remap = Remap::new(&file.catalog, &catalog);
        let fit = |snap: &mut TenantSnapshot, what: &str| -> Result<(), String> {
            if !same {
                snap.remap(&remap, &catalog)
                    .map_err(|e| refuse(format!("{what}: {e}")))?;
            }
            snap.check(&catalog)
                .map_err(|e| refuse(format!("{what}: {e}")))?;
            if let Some(s) = snap.scenarios().iter().find(|s| !scenario_known(s)) {
                return Err(refuse(format!(
                    "{what}: activates the unknown scenario {s:?}"
                )));
            }
            Ok(())
        };
        let mut tenants = Vec::with_capacity(file.tenants.len());
        for (key, mut t) in file.tenants {
            let hint = key_hint(&key);
            fit(&mut t.state, &format!("tenant {hint}"))?;
            let mut named = Named::new();
            if t.snapshots.len() > MAX_SNAPSHOTS_PER_TENANT {
                return Err(refuse(format!(
                    "tenant {hint} keeps {} snapshots, more than the {MAX_SNAPSHOTS_PER_TENANT} a tenant may keep",
                    t.snapshots.len()
                )));
            }
            for (name, mut snap) in t.snapshots {
                let what = format!("snapshot {name:?} of tenant {hint}");
                SnapshotName::parse(&name).map_err(|e| refuse(format!("{what}: {e}")))?;
                fit(&mut snap, &what)?;
                named.insert(name, Arc::new(snap));
            }
            tenants.push((key, t.state, named));
        }
        // Everything read and checked: only now does the store change.
        let count = tenants.len();
        for key in file.issued_keys {
            self.allow_key(&key);
        }
        for (key, state, named) in tenants {
            self.restore(&key, &state);
            if !named.is_empty() {
                self.snapshots.insert(key.into(), named);
            }
        }
        Ok(count)
    }

    /// [`save_state_file`](Self::save_state_file) when there is a state file (a graceful stop).
    pub fn save_state_file_if_any(&self) -> Result<(), String> {
        match self.state_file {
            Some(_) => self.save_state_file().map(|_| ()),
            None => Ok(()),
        }
    }

    /// Writes every tenant (and its snapshots) to the state file, atomically: a temporary file
    /// beside it, flushed, then renamed over it. One save at a time.
    pub fn save_state_file(&self) -> Result<Saved, String> {
        let Some(path) = self.state_file.as_deref() else {
            return Err("no --state-file was given".into());
        };
        let _one_at_a_time = self.save_lock.lock().unwrap_or_else(|p| p.into_inner());
        let tenants: Vec<_> = self
            .tenants
            .iter()
            .map(|t| (t.key().clone(), t.value().snapshot()))
            .collect();
        let named: Vec<_> = self
            .snapshots
            .iter()
            .map(|n| (n.key().clone(), n.value().clone()))
            .collect();
        let named: BTreeMap<_, _> = named.iter().map(|(k, n)| (&**k, n)).collect();
        let file = FileOut {
            kind: KIND,
            format: FORMAT,
            written_by: format!("masspay-sandbox {}", env!("CARGO_PKG_VERSION")),
            catalog: CatalogNames::of(&self.catalog),
            issued_keys: self
                .issued_keys
                .iter()
                .map(|k| k.key().to_string())
                .collect(),
            tenants: tenants
                .into_iter()
                .map(|(key, state)| {
                    let snapshots = named.get(&*key).copied();
                    (Arc::from(&*key), TenantOut { state, snapshots })
                })
                .collect(),
        };
        let count = file.tenants.len();
        let bytes = write_atomically(path, |w| {
            serde_json::to_writer(w, &file).map_err(std::io::Error::other)
        })
        .map_err(|e| format!("cannot write the state file {}: {e}", path.display()))?;
        Ok(Saved {
            tenants: count,
            bytes,
        })
    }
}

/// Writes `path` through a temporary file beside it and a rename, so a reader (or a crash)
/// sees the old file or the new one, never half of one. Returns the bytes written.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".tmp-{}", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&temp)?;
        let mut w = std::io::BufWriter::new(&file);
        write(&mut w)?;
        w.flush()?;
        drop(w);
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        std::fs::rename(&temp, path)?;
        // The rename itself is on disk once the directory is (best effort: not every system
        // lets a directory be opened for this).
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(bytes)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
