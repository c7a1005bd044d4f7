"""Provider adapters: one per wire protocol, behind the streaming interface of `base`."""
