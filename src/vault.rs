//! Secrets at rest: Klaviyo tokens and keys are sealed with
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`) under a master key
//! before they reach the database, and opened only where a request needs them.
//!
//! The master key comes from `LOOKOUT_MASTER_KEY` (base64 of 32 bytes) or from
//! the key file `master.key` in the data dir, created on first run with mode
//! 0600. The file is a key ring: one `id:base64` line per key, the first one
//! sealing, every one opening, so rotation needs no downtime: a new key is
//! put first, every sealed value is re-sealed under it, then the old keys are
//! dropped. A sealed value reads `lk1.<key id>.<base64 of nonce and
//! ciphertext>`; the purpose it was sealed for (e.g. `refresh-token:acme`) is
//! bound as associated data, so a value copied to another row does not open.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::Secret;

/// Environment variable holding the master key (base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "LOOKOUT_MASTER_KEY";
/// The key ring's file name in the data dir.
pub const KEY_FILE: &str = "master.key";
/// Prefix of a sealed value, naming the format.
const FORMAT: &str = "lk1";
/// XChaCha20's nonce: 24 random bytes, safe to draw at random for every seal.
const NONCE_LEN: usize = 24;

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The master key is missing or malformed.
    #[error("the master key is not usable: {0}")]
    BadKey(String),
    /// The key file could not be read or written.
    #[error("the key file {path} could not be {what}: {source}")]
    KeyFile {
        /// Which file.
        path: PathBuf,
        /// `read` or `written`.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// A sealed value is not in Lookout's format.
    #[error("a stored secret is not in the sealed format")]
    Malformed,
    /// It was sealed under a key the ring no longer holds.
    #[error("a stored secret was sealed under key {0}, which is not in the key ring")]
    UnknownKey(String),
    /// It does not open: altered, or sealed for another purpose.
    #[error("a stored secret failed its integrity check")]
    Tampered,
    /// The database failed during a rotation.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The purpose a client's secret is sealed for: its kind and its client, so a
/// value copied to another client's row does not open.
pub fn purpose_of(kind: &str, client: &str) -> String {
    format!("{kind}:{client}")
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The new sealing key.
    pub new_key: String,
    /// Keys dropped at the end.
    pub dropped: Vec<String>,
    /// Secrets re-sealed.
    pub resealed: usize,
}

/// Most passes a rotation makes before giving up on values that keep
/// changing under an old key.
const MAX_PASSES: usize = 5;

/// Rotates the master key with no downtime: a new key goes first in the ring
/// (running processes re-read it and seal under it at once), every stored
/// secret is re-sealed under it, and only when a pass finds none left under
/// an old key are the old keys dropped.
pub async fn rotate(store: &crate::store::Store, vault: &Vault) -> Result<Rotation, VaultError> {
    let new_key = vault.begin_rotation()?;
    let mut resealed = 0;
    for _ in 0..MAX_PASSES {
        let mut tx = store.begin().await?;
        let stale: Vec<_> = crate::store::secrets::all(&mut tx)
            .await?
            .into_iter()
            .filter(|r| vault.is_stale(&r.sealed))
            .collect();
        if stale.is_empty() {
            tx.commit().await?;
            let dropped = vault.finish_rotation()?;
            return Ok(Rotation {
                new_key,
                dropped,
                resealed,
            });
        }
        for row in &stale {
            let purpose = purpose_of(&row.purpose, &row.client);
            let secret = vault.open(&row.sealed, &purpose)?;
            let fresh = vault.seal(&secret, &purpose);
            if crate::store::secrets::replace(&mut tx, row, &fresh, chrono::Utc::now()).await? {
                resealed += 1;
            }
        }
        tx.commit().await?;
    }
    Err(VaultError::BadKey(format!(
        "secrets kept changing under the old keys after {MAX_PASSES} passes; the new key {new_key} seals, the old keys stay in the ring: run the rotation again"
    )))
}

/// One key of the ring.
#[derive(Clone)]
struct RingKey {
    id: String,
    cipher: XChaCha20Poly1305,
    bytes: [u8; 32],
}

impl RingKey {
    fn new(bytes: [u8; 32]) -> Self {
        // The id names the key without revealing it: 8 hex digits of its hash.
        let id = hex::encode(&Sha256::digest(bytes)[..4]);
        Self {
            id,
            cipher: XChaCha20Poly1305::new(&bytes.into()),
            bytes,
        }
    }

    fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self::new(bytes)
    }

    fn parse(b64: &str) -> Result<Self, VaultError> {
        let raw = STANDARD
            .decode(b64.trim())
            .map_err(|_| VaultError::BadKey("it is not base64".into()))?;
        let bytes: [u8; 32] = raw
            .try_into()
            .map_err(|_| VaultError::BadKey("it must be 32 bytes (44 base64 characters)".into()))?;
        Ok(Self::new(bytes))
    }
}

/// Seals and opens secrets; cheap to clone (clones share the ring).
#[derive(Clone)]
pub struct Vault {
    /// The first key seals; all open. Shared so that a re-read of the file
    /// (another process rotated the keys) reaches every clone.
    ring: std::sync::Arc<std::sync::RwLock<Ring>>,
    /// Where the ring lives (`None` when it came from the environment).
    file: Option<PathBuf>,
}

/// The keys and the key file's modification time they were read at.
struct Ring {
    keys: Vec<RingKey>,
    read_at: Option<std::time::SystemTime>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key ids only, never key bytes.
        f.debug_struct("Vault")
            .field("keys", &self.key_ids())
            .field("file", &self.file)
            .finish()
    }
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reads a key ring file; `None` when it does not exist.
fn read_ring(path: &Path) -> Result<Option<Vec<RingKey>>, VaultError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(VaultError::KeyFile {
                path: path.to_path_buf(),
                what: "read",
                source,
            });
        }
    };
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (id, b64) = line.split_once(':').ok_or_else(|| {
            VaultError::BadKey(format!("{} has a line without `id:`", path.display()))
        })?;
        let key = RingKey::parse(b64)?;
        if key.id != id {
            return Err(VaultError::BadKey(format!(
                "{} lists key {id}, but that line holds key {}",
                path.display(),
                key.id
            )));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(VaultError::BadKey(format!(
            "{} holds no key",
            path.display()
        )));
    }
    Ok(Some(keys))
}

/// Writes a key ring, readable by the owner only.
fn write_ring(path: &Path, keys: &[RingKey]) -> Result<(), VaultError> {
    let failed = |source| VaultError::KeyFile {
        path: path.to_path_buf(),
        what: "written",
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let text: String = keys
        .iter()
        .map(|k| format!("{}:{}\n", k.id, STANDARD.encode(k.bytes)))
        .collect();
    // Written to a new file with 0600 from the start, then renamed over the
    // old one, so the keys are never readable by others, even briefly.
    let tmp = path.with_extension("key.new");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(failed)?;
    std::io::Write::write_all(&mut f, text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(failed)?;
    std::fs::rename(&tmp, path).map_err(failed)
}

impl Vault {
    fn with(keys: Vec<RingKey>, file: Option<PathBuf>) -> Self {
        let read_at = file.as_deref().and_then(modified);
        Self {
            ring: std::sync::Arc::new(std::sync::RwLock::new(Ring { keys, read_at })),
            file,
        }
    }

    /// A vault over a new random key held only in memory: for an in-memory
    /// database (tests, a demo without `--data-dir`), whose secrets die with it.
    pub fn ephemeral() -> Self {
        Self::with(vec![RingKey::random()], None)
    }

    /// A vault over one key given as base64 (`LOOKOUT_MASTER_KEY`'s format).
    pub fn from_base64(key: &Secret) -> Result<Self, VaultError> {
        Ok(Self::with(vec![RingKey::parse(key.expose())?], None))
    }

    /// The master key from the environment, else the key ring in `data_dir`,
    /// created with one new key (mode 0600) when there is none.
    pub fn load(data_dir: &Path) -> Result<Self, VaultError> {
        if let Ok(key) = std::env::var(MASTER_KEY_ENV) {
            return Self::from_base64(&Secret::new(key));
        }
        Self::load_file(&data_dir.join(KEY_FILE))
    }

    /// The key ring in `path`, created with one new key when missing.
    pub fn load_file(path: &Path) -> Result<Self, VaultError> {
        let keys = match read_ring(path)? {
            Some(keys) => keys,
            None => {
                let keys = vec![RingKey::random()];
                write_ring(path, &keys)?;
                keys
            }
        };
        Ok(Self::with(keys, Some(path.to_path_buf())))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Ring> {
        // A panic while swapping keys leaves either ring, both whole.
        self.ring.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Ring> {
        self.ring.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Re-reads the key file when another process (`lookout keys rotate`)
    /// changed it, so a running Lookout seals under the new key at once and
    /// still opens values sealed under the old ones.
    fn refresh(&self) {
        let Some(path) = &self.file else { return };
        let now = modified(path);
        if now.is_none() || now == self.read().read_at {
            return;
        }
        match read_ring(path) {
            Ok(Some(keys)) => {
                let mut ring = self.write();
                ring.keys = keys;
                ring.read_at = now;
            }
            // Keep the keys in hand; the next call tries again.
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not re-read the key ring"),
        }
    }

    /// Ids of the ring's keys, the sealing one first.
    pub fn key_ids(&self) -> Vec<String> {
        self.read().keys.iter().map(|k| k.id.clone()).collect()
    }

    /// Seals `secret` for `purpose` (bound as associated data) under the first key.
    pub fn seal(&self, secret: &Secret, purpose: &str) -> String {
        self.refresh();
        let ring = self.read();
        let key = &ring.keys[0]; // never empty: every constructor puts a key in
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = key
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: purpose.as_bytes(),
                },
            )
            // Encryption only fails for messages over 256 GiB.
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{FORMAT}.{}.{}", key.id, URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a value sealed for `purpose`.
    pub fn open(&self, sealed: &str, purpose: &str) -> Result<Secret, VaultError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(FORMAT), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(VaultError::Malformed);
        };
        if !self.read().keys.iter().any(|k| k.id == id) {
            self.refresh();
        }
        let ring = self.read();
        let key = ring
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| VaultError::UnknownKey(id.to_owned()))?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| VaultError::Malformed)?;
        if raw.len() < NONCE_LEN {
            return Err(VaultError::Malformed);
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let plain = key
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Tampered)?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| VaultError::Tampered)
    }

    /// Whether a sealed value is under another key than the sealing one.
    pub fn is_stale(&self, sealed: &str) -> bool {
        sealed.split('.').nth(1) != self.read().keys.first().map(|k| k.id.as_str())
    }

    /// Starts a rotation: a new key seals from now on, the old ones still
    /// open; the ring is saved before anything is sealed under the new key.
    pub fn begin_rotation(&self) -> Result<String, VaultError> {
        let Some(path) = &self.file else {
            return Err(VaultError::BadKey(format!(
                "the master key comes from {MASTER_KEY_ENV}: rotate it where it is set"
            )));
        };
        self.refresh();
        let mut ring = self.write();
        let mut keys = ring.keys.clone();
        keys.insert(0, RingKey::random());
        write_ring(path, &keys)?;
        let id = keys[0].id.clone();
        ring.keys = keys;
        ring.read_at = modified(path);
        Ok(id)
    }

    /// Ends a rotation once nothing is sealed under the old keys: drops them.
    pub fn finish_rotation(&self) -> Result<Vec<String>, VaultError> {
        let Some(path) = &self.file else {
            return Ok(Vec::new());
        };
        let mut ring = self.write();
        let keys: Vec<RingKey> = ring.keys.iter().take(1).cloned().collect();
        write_ring(path, &keys)?;
        let dropped = ring.keys.iter().skip(1).map(|k| k.id.clone()).collect();
        ring.keys = keys;
        ring.read_at = modified(path);
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_in(dir: &Path) -> Vault {
        Vault::load_file(&dir.join(KEY_FILE)).unwrap()
    }

    #[test]
    fn sealed_values_open_only_for_their_purpose_and_hide_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let v = ring_in(dir.path());
        let token = Secret::new("pk_live_refresh_0123456789abcdef");
        let sealed = v.seal(&token, "refresh-token:acme");
        assert!(sealed.starts_with(&format!("lk1.{}.", v.key_ids()[0])));
        assert!(!sealed.contains("pk_live"));
        assert_ne!(
            sealed,
            v.seal(&token, "refresh-token:acme"),
            "a fresh nonce each time"
        );
        assert_eq!(
            v.open(&sealed, "refresh-token:acme").unwrap().expose(),
            token.expose()
        );
        assert!(matches!(
            v.open(&sealed, "refresh-token:bluebird"),
            Err(VaultError::Tampered)
        ));
        let mut altered = sealed.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(v.open(&altered, "refresh-token:acme").is_err());
        assert!(matches!(v.open("plain", "x"), Err(VaultError::Malformed)));
        let key = STANDARD.encode(v.read().keys[0].bytes);
        assert!(!format!("{v:?}").contains(&key));
    }

    #[test]
    fn the_key_file_is_created_once_for_the_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let first = ring_in(dir.path());
        let again = ring_in(dir.path());
        assert_eq!(first.key_ids(), again.key_ids(), "created once, then read");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = first.seal(&Secret::new("k"), "p");
        assert_eq!(again.open(&sealed, "p").unwrap().expose(), "k");
    }

    #[test]
    fn rotation_keeps_old_values_open_until_they_are_resealed() {
        let dir = tempfile::tempdir().unwrap();
        let v = ring_in(dir.path());
        let old = v.seal(&Secret::new("secret"), "p");
        let old_id = v.key_ids()[0].clone();
        let new_id = v.begin_rotation().unwrap();
        assert_ne!(old_id, new_id);
        // Another process reading the ring mid-rotation opens both.
        let reader = ring_in(dir.path());
        assert_eq!(reader.key_ids().len(), 2);
        assert_eq!(reader.key_ids(), [new_id.clone(), old_id.clone()]);
        assert_eq!(reader.open(&old, "p").unwrap().expose(), "secret");
        assert!(v.is_stale(&old));
        let resealed = v.seal(&v.open(&old, "p").unwrap(), "p");
        assert!(!v.is_stale(&resealed));
        assert_eq!(v.finish_rotation().unwrap(), std::slice::from_ref(&old_id));
        let after = ring_in(dir.path());
        assert_eq!(after.open(&resealed, "p").unwrap().expose(), "secret");
        assert!(matches!(after.open(&old, "p"), Err(VaultError::UnknownKey(id)) if id == old_id));
    }

    #[test]
    fn a_running_vault_follows_a_rotation_made_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let running = ring_in(dir.path());
        let old = running.seal(&Secret::new("secret"), "p");
        let rotator = ring_in(dir.path());
        let new_id = rotator.begin_rotation().unwrap();
        // The running process seals under the new key at once...
        let sealed_now = running.seal(&Secret::new("fresh"), "p");
        assert!(
            sealed_now.starts_with(&format!("lk1.{new_id}.")),
            "{sealed_now}"
        );
        let resealed = rotator.seal(&rotator.open(&old, "p").unwrap(), "p");
        rotator.finish_rotation().unwrap();
        // ...and opens what the rotation re-sealed.
        assert_eq!(running.open(&resealed, "p").unwrap().expose(), "secret");
        assert_eq!(running.open(&sealed_now, "p").unwrap().expose(), "fresh");
    }

    #[tokio::test]
    async fn rotating_reseals_every_stored_secret_and_drops_the_old_key() {
        let dir = tempfile::tempdir().unwrap();
        let vault = ring_in(dir.path());
        let store = crate::store::Store::open_file(&dir.path().join("lookout.db"))
            .await
            .unwrap();
        let now = chrono::Utc::now();
        let mut tx = store.begin().await.unwrap();
        for slug in ["acme", "bluebird"] {
            let c = crate::domain::ClientSlug::parse(slug).unwrap();
            crate::store::clients::upsert_client(&mut tx, &c, slug, now)
                .await
                .unwrap();
            let token = Secret::new(format!("refresh-{slug}-0123456789"));
            let sealed = vault.seal(&token, &purpose_of("refresh-token", slug));
            crate::store::secrets::put(&mut tx, &c, "refresh-token", &sealed, now)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let old_key = vault.key_ids()[0].clone();
        let r = rotate(&store, &vault).await.unwrap();
        assert_eq!(r.resealed, 2);
        assert_eq!(r.dropped, [old_key]);
        assert_eq!(vault.key_ids(), std::slice::from_ref(&r.new_key));
        let mut db = store.conn().await.unwrap();
        for row in crate::store::secrets::all(&mut db).await.unwrap() {
            assert!(!vault.is_stale(&row.sealed));
            let opened = vault
                .open(&row.sealed, &purpose_of(&row.purpose, &row.client))
                .unwrap();
            assert_eq!(
                opened.expose(),
                format!("refresh-{}-0123456789", row.client)
            );
        }
        drop(db);
        // Nothing in the database files is a token in the clear.
        for name in ["lookout.db", "lookout.db-wal"] {
            let file = std::fs::read(dir.path().join(name)).unwrap_or_default();
            let text = String::from_utf8_lossy(&file);
            assert!(!text.contains("refresh-acme-0123456789"), "{name}");
        }
    }

    #[test]
    fn a_bad_key_is_refused_with_what_to_do() {
        let short = Vault::from_base64(&Secret::new(STANDARD.encode([1u8; 16]))).unwrap_err();
        assert!(short.to_string().contains("32 bytes"), "{short}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "abcd:notbase64!\n").unwrap();
        assert!(Vault::load_file(&dir.path().join(KEY_FILE)).is_err());
        let env = Vault::from_base64(&Secret::new(STANDARD.encode([7u8; 32]))).unwrap();
        assert!(
            env.begin_rotation().is_err(),
            "an environment key is rotated where it is set"
        );
    }
}
