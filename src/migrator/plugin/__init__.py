"""The plugin API: hook specifications, action and check specs, the plugin manager, contexts."""
