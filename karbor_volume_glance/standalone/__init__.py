"""Running the plugin without Karbor: checkpoints in Karbor's bank layout,
Karbor's hook order, and a runner that the CLI drives."""
