"""Voice providers behind one interface (`VoiceProvider`); one module per provider.

Adding a provider is one module implementing `base.VoiceProvider` plus its line in
`registry.PROVIDER_TYPES`; placement, reconciliation, webhooks and the CLI only talk to it.
"""
