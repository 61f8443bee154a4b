//! Files on Slack: a chart or a document is uploaded with
//! `files.getUploadURLExternal` and a POST of its bytes to the URL Slack
//! returns, then shared into the channel, with the message's blocks, by
//! `files.completeUploadExternal` (`files.upload` is retired). An upload is
//! invisible until shared, so the outbox records the file ids between the two
//! steps; after a crash, `files.info` tells whether the share happened.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{SlackChat, blocks, is_loopback};
use crate::message::{Block, ChannelRef, ChatError, Message, MessageRef};

/// Longest time an upload of one file may take.
const UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Deserialize)]
struct UploadTicket {
    upload_url: String,
    file_id: String,
}

#[derive(Deserialize)]
struct FileInfo {
    file: FileShares,
}

#[derive(Deserialize)]
struct FileShares {
    #[serde(default)]
    shares: Shares,
}

#[derive(Deserialize, Default)]
struct Shares {
    #[serde(default)]
    public: std::collections::HashMap<String, Vec<Share>>,
    #[serde(default)]
    private: std::collections::HashMap<String, Vec<Share>>,
}

#[derive(Deserialize)]
struct Share {
    ts: String,
}

impl SlackChat {
    /// Uploads every file of `message` not uploaded yet; returns the message
    /// with each file's Slack id. The bytes stay, so nothing is lost if Slack
    /// discards an upload that was never shared.
    pub(super) async fn stage(
        &self,
        channel: &ChannelRef,
        message: &Message,
    ) -> Result<Message, ChatError> {
        let mut staged = message.clone();
        for a in staged.files_mut() {
            if a.uploaded.is_some() {
                continue;
            }
            if a.bytes.is_empty() {
                return Err(ChatError::Rejected(format!(
                    "the file {} is empty; Slack refuses empty uploads",
                    a.filename
                )));
            }
            let ticket: UploadTicket = self
                .get(
                    "files.getUploadURLExternal",
                    Some(channel),
                    &[
                        ("filename", Some(a.filename.clone())),
                        ("length", Some(a.bytes.len().to_string())),
                        ("alt_txt", Some(a.title.clone())),
                    ],
                )
                .await?;
            self.upload(&ticket.upload_url, a.media.mime(), &a.bytes)
                .await?;
            a.uploaded = Some(ticket.file_id);
        }
        Ok(staged)
    }

    /// POSTs a file's bytes to the upload URL Slack handed out.
    async fn upload(&self, url: &str, mime: &str, bytes: &[u8]) -> Result<(), ChatError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            ChatError::Unavailable(format!(
                "Slack handed out an upload URL that is not a URL ({e}); Lookout will retry"
            ))
        })?;
        // The URL comes from Slack's answer: only https (or a local fake) gets the bytes.
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && is_loopback(&parsed)) {
            return Err(ChatError::Rejected(
                "Slack handed out an upload URL that is not https; the file was not sent".into(),
            ));
        }
        let response = self
            .uploads
            .post(parsed)
            .header(reqwest::header::CONTENT_TYPE, mime)
            .body(bytes.to_vec())
            .timeout(UPLOAD_TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                // Without the URL: it is a credential for the upload.
                ChatError::Unavailable(format!(
                    "could not upload a file to Slack: {}; Lookout will retry",
                    super::error_chain(&e.without_url())
                ))
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(match status.as_u16() {
            429 => ChatError::RateLimited {
                retry_after_secs: response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(super::DEFAULT_RETRY_AFTER_SECS),
            },
            s if s >= 500 => ChatError::Unavailable(format!(
                "Slack's file upload answered {status}; Lookout will retry"
            )),
            _ => ChatError::Rejected(format!(
                "Slack refused the file upload with {status}; the file was not sent"
            )),
        })
    }

    /// Shares the uploaded files of `message` into `channel` as one message
    /// carrying the other blocks; returns that message's `ts` (or, should
    /// Slack not list the share yet, the first file's id).
    pub(super) async fn share(
        &self,
        channel: &ChannelRef,
        message: &Message,
        thread: Option<&MessageRef>,
    ) -> Result<MessageRef, ChatError> {
        let id = self.channel_id(channel)?;
        let files: Vec<Value> = message
            .files()
            .filter_map(|a| {
                a.uploaded
                    .as_ref()
                    .map(|f| json!({"id": f, "title": a.title}))
            })
            .collect();
        let Some(first) = message.files().find_map(|a| a.uploaded.clone()) else {
            return Err(ChatError::Rejected(
                "no uploaded file to share; this is a Lookout bug, please report it".into(),
            ));
        };
        let rest = Message {
            accent: message.accent,
            blocks: message
                .blocks
                .iter()
                .filter(|b| !matches!(b, Block::File(_)))
                .cloned()
                .collect(),
        };
        let (rendered, _) = blocks::render(&rest);
        let mut req = json!({"files": files, "channel_id": id, "blocks": rendered});
        if let Some(t) = thread {
            req["thread_ts"] = json!(t.0);
        }
        let _: Value = self
            .post_json("files.completeUploadExternal", channel, &req)
            .await?;
        Ok(self
            .shared_in(channel, &first)
            .await
            .ok()
            .flatten()
            .unwrap_or(MessageRef(first)))
    }

    /// Where the first uploaded file of `message` was shared in `channel`, if it was.
    pub(super) async fn find_share(
        &self,
        channel: &ChannelRef,
        message: &Message,
    ) -> Result<Option<MessageRef>, ChatError> {
        match message.files().find_map(|a| a.uploaded.clone()) {
            Some(file) => self.shared_in(channel, &file).await,
            None => Ok(None),
        }
    }

    async fn shared_in(
        &self,
        channel: &ChannelRef,
        file: &str,
    ) -> Result<Option<MessageRef>, ChatError> {
        let id = self.channel_id(channel)?;
        let info: FileInfo = match self
            .get(
                "files.info",
                Some(channel),
                &[("file", Some(file.to_owned()))],
            )
            .await
        {
            Ok(i) => i,
            // Discarded unshared upload: it was never posted.
            Err(ChatError::Rejected(e)) if e.contains("file_not_found") => return Ok(None),
            Err(e) => return Err(e),
        };
        let shares = info.file.shares;
        Ok(shares
            .public
            .get(&id)
            .or_else(|| shares.private.get(&id))
            .and_then(|s| s.first())
            .map(|s| MessageRef(s.ts.clone())))
    }
}
