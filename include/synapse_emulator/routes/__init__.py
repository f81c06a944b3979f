"""The HTTP surface: Synapse's paths under /repo/v1, /file/v1 and /auth/v1, the presigned
storage URLs under /_storage, and the emulator's own admin API under /_emulator."""
