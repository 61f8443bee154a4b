//! What the bot asks for when it joins a server: the permissions (each with
//! why), the OAuth2 scopes and the invite URL built from them. The README's
//! table and permission integer are checked against this list.

/// Each permission the bot needs in a client's channel, its bit and why.
pub const PERMISSIONS: &[(&str, u64, &str)] = &[
    (
        "View Channels",
        1 << 10,
        "see the client and agency channels it posts to",
    ),
    (
        "Send Messages",
        1 << 11,
        "post findings, digests and scan progress",
    ),
    (
        "Embed Links",
        1 << 14,
        "show a finding as an embed with its Klaviyo link",
    ),
    (
        "Attach Files",
        1 << 15,
        "post a report's chart and Markdown document",
    ),
    (
        "Read Message History",
        1 << 16,
        "find a message again by its tag after a crash, so nothing is posted twice",
    ),
    (
        "Add Reactions",
        1 << 6,
        "confirm with 📝 that a thread reply was kept as a note",
    ),
    (
        "Create Public Threads",
        1 << 35,
        "open a thread under each finding for its history",
    ),
    (
        "Send Messages in Threads",
        1 << 38,
        "reply in a finding's thread as its state changes",
    ),
];

/// OAuth2 scopes of the invite: the bot user and its slash commands.
pub const SCOPES: &str = "bot applications.commands";

/// The permission integer of the invite URL.
pub fn permission_bits() -> u64 {
    PERMISSIONS.iter().fold(0, |bits, (_, bit, _)| bits | bit)
}

/// The URL a server admin opens to add Lookout to a server.
pub fn invite_url(application_id: u64) -> String {
    format!(
        "https://discord.com/oauth2/authorize?client_id={application_id}&scope={}&permissions={}",
        SCOPES.replace(' ', "+"),
        permission_bits()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invite_asks_for_exactly_these_permissions() {
        assert_eq!(permission_bits(), 309_237_763_136);
        // Nothing broad: no administrator, no managing channels, roles or messages.
        for broad in [1u64 << 3, 1 << 4, 1 << 13, 1 << 28, 1 << 34] {
            assert_eq!(permission_bits() & broad, 0, "{broad}");
        }
        assert_eq!(
            invite_url(42),
            "https://discord.com/oauth2/authorize?client_id=42&scope=bot+applications.commands&permissions=309237763136"
        );
    }
}
