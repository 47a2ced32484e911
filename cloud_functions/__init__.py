"""Google Cloud Functions that trigger scheduled work on our apps over HTTP."""
