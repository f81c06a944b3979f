"""Local stand-ins for the outside world (moto S3, the Synapse emulator), for tests and the demo.

Nothing in production imports this package.
"""
