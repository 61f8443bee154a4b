//! Configuration: defaults, a TOML file, then `LOOKOUT_*` environment variables.

mod profile;
mod secret;

pub use profile::ClientProfile;
pub use secret::Secret;
