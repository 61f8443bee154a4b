//! Deep links into the Klaviyo web app.
